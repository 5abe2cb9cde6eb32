"""Reading the IDX format of (Fashion-)MNIST: a big-endian header, then uint8 data.

Header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then one
big-endian uint32 per dimension. Images are idx3 (count, 28, 28), labels idx1 (count,).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from prunelab.wiring.errors import IdxError

UNSIGNED_BYTE = 0x08


def parse_idx(raw: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode the bytes of one IDX file into a uint8 array of the shape its header declares."""
    if len(raw) < 4:
        raise IdxError(f"{name}: {len(raw)} bytes is too short for an IDX header")
    if raw[0] != 0 or raw[1] != 0:
        raise IdxError(f"{name}: bad magic number {raw[:4].hex()} (expected 0000 08 0N)")
    if raw[2] != UNSIGNED_BYTE:
        raise IdxError(f"{name}: type code {raw[2]:#04x} is not unsigned byte (0x08)")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_size:
        raise IdxError(f"{name}: truncated header ({ndim} dimensions, {len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header_size + int(np.prod(shape))
    if len(raw) != expected:
        raise IdxError(
            f"{name}: header declares shape {shape} ({expected} bytes) but the file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (the inverse of :func:`parse_idx`)."""
    if array.dtype != np.uint8:
        raise IdxError(f"only uint8 arrays can be encoded, got {array.dtype}")
    header = bytes([0, 0, UNSIGNED_BYTE, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def read_idx_file(path: Path) -> np.ndarray:
    """Read an IDX file from disk, gzip-compressed (``.gz``) or not."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return parse_idx(raw, str(path))
