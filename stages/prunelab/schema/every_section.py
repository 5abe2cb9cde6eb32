"""The whole ``params.yaml``: every section's schema, in file order, and its validation.

Run by the ``validate_params`` stage, the root of the DAG, and by ``make repro`` before DVC
starts, so a bad value anywhere stops the pipeline before its first costly stage, with every
problem named at once. Usage: ``python -m prunelab.schema.every_section [params.yaml]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prunelab.schema.benchmark import BENCHMARK
from prunelab.schema.data import DATA
from prunelab.schema.finetune import FINETUNE
from prunelab.schema.gradual import GRADUAL
from prunelab.schema.lottery import LOTTERY
from prunelab.schema.model import MODEL
from prunelab.schema.prune import PRUNE
from prunelab.schema.reconstruct import RECONSTRUCT
from prunelab.schema.scratch import SCRATCH
from prunelab.schema.sensitivity import SENSITIVITY
from prunelab.schema.train import TRAIN
from prunelab.wiring.params import (
    Params,
    ParamsError,
    Section,
    build_params,
    read_yaml,
    validate_whole,
)

SECTIONS: tuple[Section, ...] = (DATA, MODEL, TRAIN, PRUNE, RECONSTRUCT, FINETUNE, GRADUAL,
                                  SCRATCH, LOTTERY, SENSITIVITY, BENCHMARK)


def validate_file(path: str | Path = "params.yaml") -> Params:
    """Check the whole file at ``path`` (unknown sections and keys, every field, every
    cross-section rule); return every section loaded."""
    raw = read_yaml(path)
    validate_whole(raw, SECTIONS, str(path))
    return build_params(raw, SECTIONS, str(path))


if __name__ == "__main__":
    try:
        validate_file(sys.argv[1] if len(sys.argv) > 1 else "params.yaml")
    except ParamsError as error:
        sys.exit(f"error: {error}")
    print("params.yaml: valid")
