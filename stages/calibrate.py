"""Stage calibrate: draw one seed's calibration images for the reconstruct stage, once.

The ``reconstruct.calibration_images`` training images are drawn, seeded by the model's seed,
from the part of the training split the model was trained on -- never from its validation part
(``prunelab.data.calibration.calibration_indices``); the test file is never opened. Writes them
to ``--out`` as a float32 ``.npy`` (12.8 MB at 4,096 images), so that each of the seed's
reconstruct instances reads that instead of parsing the 47 MB training split.
"""

from __future__ import annotations

import argparse
import sys

from prunelab.data.calibration import calibration_bytes, calibration_indices
from prunelab.data.datasets import load_train_split
from prunelab.schema.data import DATA
from prunelab.schema.reconstruct import RECONSTRUCT
from prunelab.schema.train import TRAIN
from prunelab.wiring import entry
from prunelab.wiring.atomic import write_files
from prunelab.wiring.params import load_params, parse_seed


def main(argv: list[str] | None = None) -> int:
    parser = entry.stage_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--seed", required=True, help="the model's training seed")
    entry.add_path_arguments(parser, data="folder with the IDX files", out="output .npy")
    args = parser.parse_args(argv)
    return entry.run_stage("calibrate", lambda: calibrate(args))


def calibrate(args: argparse.Namespace) -> None:
    params = load_params(args.params, DATA, TRAIN, RECONSTRUCT)
    seed = parse_seed("--seed", args.seed, args.params)
    train = load_train_split(args.data, params.data.train_images)
    # calibration_indices knows the fit part's size (it re-derives the validation split).
    with entry.input_problem("lower reconstruct.calibration_images (or raise data.train_images)"):
        rows = calibration_indices(
            len(train.labels), params.train.validation_split, seed,
            params.reconstruct.calibration_images,
        )
    write_files({args.out: calibration_bytes(train.images[rows])})
    print(f"calibrate: seed {seed}: {len(rows)} training images")


if __name__ == "__main__":
    sys.exit(main())
