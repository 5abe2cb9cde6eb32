"""Stage validate_params: check the whole params file before any other stage runs.

The root of the DAG (``fetch_data`` depends on its output), so ``dvc repro`` and ``dvc exp run``
stop at a bad value anywhere -- any section, any cross-section rule -- before the first costly
stage, with every problem named at once. Each stage validates only the sections it reads, so this
is the one place that sees the whole file. Its output, ``--out``, holds the same text whenever the
file is valid: DVC then finds it unchanged and reruns nothing downstream for its sake.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prunelab.schema.every_section import validate_file
from prunelab.wiring import entry
from prunelab.wiring.atomic import write_files

VALID = b"params valid\n"


def main(argv: list[str] | None = None) -> int:
    parser = entry.stage_parser(__doc__.split("\n\n")[0])
    entry.add_path_arguments(parser, out="the file written when the params are valid")
    args = parser.parse_args(argv)
    return entry.run_stage("validate_params", lambda: validate(args.params, args.out))


def validate(params: Path, out: Path) -> None:
    validate_file(params)
    write_files({out: VALID})
    print(f"validate_params: {params} is valid")


if __name__ == "__main__":
    sys.exit(main())
