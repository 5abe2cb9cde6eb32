"""Finding, downloading and verifying the IDX files of a dataset.

A source is a local folder or a base URL. For each file, sources are tried in order; the
first copy whose decompressed SHA-256 matches is taken. Nothing is written until all four
files are verified, and then the output folder is replaced in one rename.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from prunelab.data.datasets import FILE_NAMES, DatasetSpec
from prunelab.wiring.atomic import replace_folder

DOWNLOAD_TIMEOUT_S = 60


class FetchError(RuntimeError):
    """No source gave a verified copy of a file; the message lists every attempt and the fix."""


def _decompress(raw: bytes) -> bytes:
    # gzip streams start with 1f 8b; the IDX magic starts with 00 00, so sniffing is unambiguous.
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _read_local(folder: Path, name: str) -> bytes | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate.read_bytes()
    return None


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        return response.read()


def collect(
    spec: DatasetSpec, folders: list[Path], base_urls: list[str], log=print
) -> dict[str, bytes]:
    """Return the verified, decompressed bytes of every file of ``spec``.

    Folders are tried before URLs, each in the order given. Raises :class:`FetchError` naming
    the file, each source tried with what went wrong, and the remedy.
    """
    verified: dict[str, bytes] = {}
    for name in FILE_NAMES:
        attempts: list[str] = []
        sources: list[tuple[str, object]] = [(str(f), f) for f in folders]
        sources += [(base + f"{name}.gz", None) for base in base_urls]
        for label, folder in sources:
            try:
                raw = _read_local(folder, name) if folder is not None else _download(label)
            except (urllib.error.URLError, OSError, ValueError) as error:
                attempts.append(f"{label}: {error}")
                continue
            if raw is None:
                attempts.append(f"{label}: no {name} or {name}.gz there")
                continue
            try:
                content = _decompress(raw)
            except (OSError, EOFError, zlib.error) as error:  # zlib.error: damaged deflate data
                attempts.append(f"{label}: not a readable gzip file ({error})")
                continue
            digest = hashlib.sha256(content).hexdigest()
            if digest != spec.sha256[name]:
                attempts.append(
                    f"{label}: SHA-256 mismatch (got {digest}, expected {spec.sha256[name]})"
                )
                log(f"warning: {name} from {label} failed verification, trying the next source")
                continue
            log(f"{name}: verified from {label}")
            verified[name] = content
            break
        else:
            tried = "\n  - ".join(attempts) if attempts else "(no source configured)"
            raise FetchError(
                f"could not get a verified copy of {spec.name} file '{name}'. Tried:\n  - {tried}\n"
                f"Fix: {spec.install_hint}, or put the four IDX files (.gz or not) in a folder "
                "and set data.local_dir in params.yaml to it."
            )
    return verified


def write_atomically(files: dict[str, bytes], out_dir: Path) -> None:
    """Replace ``out_dir`` by a folder holding ``files``, never leaving a partial folder behind."""
    with replace_folder(out_dir) as staging:
        for name, content in files.items():
            (staging / name).write_bytes(content)
