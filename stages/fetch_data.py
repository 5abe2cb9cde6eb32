"""Stage fetch_data: put the four verified IDX files of ``data.dataset`` into ``--out``.

Sources, in order: ``data.local_dir``, the folder of the dataset's Debian package, then the
dataset's canonical download URLs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prunelab.data.datasets import DATASETS
from prunelab.data.fetch import FetchError, collect, write_atomically
from prunelab.schema.data import DATA
from prunelab.wiring import entry
from prunelab.wiring.params import load_params


def main(argv: list[str] | None = None) -> int:
    parser = entry.stage_parser(__doc__)
    entry.add_path_arguments(parser, out="folder for the IDX files")
    args = parser.parse_args(argv)
    return entry.run_stage("fetch_data", lambda: fetch_data(args), also=(FetchError,))


def fetch_data(args: argparse.Namespace) -> None:
    data = load_params(args.params, DATA).data
    spec = DATASETS[data.dataset]
    folders = [Path(data.local_dir)] if data.local_dir else []
    folders += [Path(d) for d in spec.system_dirs]
    files = collect(spec, folders, list(spec.urls))
    write_atomically(files, args.out)
    print(f"fetch_data: wrote {len(files)} files of {spec.name} to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
