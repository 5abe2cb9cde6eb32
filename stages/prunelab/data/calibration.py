"""The calibration set of data-aware pruning: which training images, and their checked values.

:func:`calibration_indices` picks the rows of the training set that
:mod:`prunelab.pruning.reconstruct` looks at, and :func:`check_calibration` turns those images
into the float64 inputs the refits use; both are pure numpy. The calibrate stage draws the set
once per seed and writes it with :func:`calibration_bytes` (a float32 ``.npy``), and every
reconstruct instance of that seed reads those few megabytes with :func:`load_calibration`
instead of the whole training split.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from prunelab.wiring.errors import StageError


def calibration_indices(
    examples: int, validation_fraction: float, seed: int, size: int
) -> np.ndarray:
    """Indices of ``size`` calibration examples drawn from the fit part of the training set.

    Re-derives the rule of ``prunelab.model.training.split_validation``: with
    ``order = numpy.random.default_rng(seed).permutation(examples)``, the validation part is
    ``order[:held]`` with ``held = max(1, round(validation_fraction * examples))`` (Python's
    ``round``) and the fit part is ``order[held:]``. The calibration examples are the first
    ``size`` entries of ``fit`` shuffled by ``numpy.random.default_rng([seed, 2])`` -- a stream
    of its own, apart from the split's (``seed``) and the training epochs' (``[seed, 1]``).
    So they never touch the validation part (nor the test set, another file), a smaller
    ``size`` draws a prefix of a larger one's draw, and the same arguments give the same
    indices.

    Args:
        examples: number of training examples, an integer ``>= 2``.
        validation_fraction: the training run's validation share, in ``(0, 1)``.
        seed: the training run's seed, an integer ``>= 0``.
        size: how many calibration examples, ``1 <= size <= examples - held``.

    Returns:
        ``int64`` indices into the training set, sorted ascending, without repeats.

    Raises:
        ValueError: on arguments outside those ranges, or a split leaving no fit example.
    """
    for name, value in (("examples", examples), ("seed", seed), ("size", size)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} is {value!r}: it must be an integer")
    if isinstance(validation_fraction, (bool, np.bool_)) or not isinstance(
        validation_fraction, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"validation_fraction is {validation_fraction!r}: it must be a number")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction is {validation_fraction}: it must lie in (0, 1)")
    if examples < 1 or seed < 0:
        raise ValueError(f"examples ({examples}) must be >= 1 and seed ({seed}) >= 0")
    order = np.random.default_rng(seed).permutation(examples)
    held = max(1, round(validation_fraction * examples))
    fit = order[held:]
    if not len(fit):
        raise ValueError(
            f"a validation share of {validation_fraction} of {examples} examples leaves no fit "
            "example to calibrate on"
        )
    if not 1 <= size <= len(fit):
        raise ValueError(
            f"calibration size is {size}: it must lie in [1, {len(fit)}], the {len(fit)} fit "
            f"examples left by a validation share of {validation_fraction} of {examples}"
        )
    drawn = fit[np.random.default_rng([seed, 2]).permutation(len(fit))[:size]]
    return np.sort(drawn).astype(np.int64)


def check_calibration(calibration: np.ndarray, features: int) -> np.ndarray:
    """The calibration inputs rounded to float32 (the network's precision), widened to float64,
    after checking shape and finiteness."""
    array = np.asarray(calibration)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != features:
        raise ValueError(
            f"calibration has shape {array.shape}: it must be (examples >= 1, {features})"
        )
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"calibration holds non-numbers ({array.dtype})")
    with np.errstate(over="ignore"):
        copy = array.astype(np.float32)
    if not np.isfinite(copy).all():
        raise ValueError("calibration holds NaN or infinity (as float32)")
    return copy.astype(np.float64)


def calibration_bytes(images: np.ndarray) -> bytes:
    """The ``.npy`` bytes of the calibration images, as the float32 array the refits read."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(images, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


# How to rerun the stage that writes the set: it lives in a sub-pipeline, so its file is named.
_CALIBRATE = "`dvc repro --glob 'pipelines/reconstruct/dvc.yaml:calibrate@*'`"


def load_calibration(path: Path) -> np.ndarray:
    """The calibration images written by :func:`calibration_bytes`: ``(count, 784)`` float32.

    Raises:
        StageError: when the file is missing or is not a 2-D float32 ``.npy`` (rerun the
            calibrate stage).
    """
    try:
        images = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise StageError(f"{path}: cannot read the calibration set ({error}): run the "
                         f"calibrate stage first ({_CALIBRATE})") from None
    if images.ndim != 2 or images.dtype != np.float32:
        raise StageError(f"{path} holds a {images.dtype} array of shape {images.shape}, not "
                         f"float32 (images, pixels): rerun the calibrate stage ({_CALIBRATE})")
    return images
