"""Stage fetch_data: put the four verified IDX files of ``data.dataset`` into ``--out``.

Sources, in order: ``data.local_dir``, the folder of the dataset's Debian package, then the
dataset's canonical download URLs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prunelab.datasets import DATASETS
from prunelab.fetch import FetchError, collect, write_atomically
from prunelab.params import ParamsError, load_params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, required=True, help="folder for the IDX files")
    args = parser.parse_args(argv)
    try:
        data = load_params(args.params)["data"]
        spec = DATASETS[data["dataset"]]
        folders = [Path(data["local_dir"])] if data["local_dir"] else []
        folders += [Path(d) for d in spec.system_dirs]
        files = collect(spec, folders, list(spec.urls))
    except (ParamsError, FetchError) as error:
        print(f"fetch_data: error: {error}", file=sys.stderr)
        return 1
    write_atomically(files, args.out)
    print(f"fetch_data: wrote {len(files)} files of {spec.name} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
