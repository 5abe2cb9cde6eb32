"""The calibrate and reconstruct stage scripts: the drawn rows, exact counts, determinism,
no test file read and no TensorFlow loaded, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from shapes import HIDDEN_SHAPES, he_kernels, kernel_shapes
from stage_runner import StageRun, modules_loaded_by, run_stage

from prunelab.data.datasets import TRAIN_IMAGES, TRAIN_LABELS
from prunelab.data.idx import encode_idx
from prunelab.model.weights import load_kernels, save_kernels
from prunelab.pruning.masks import count_to_prune

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Training IDX files only (no test split exists to be read), a dense model of each shape
    (``dense.npz`` the default widths, ``dense-<shape>.npz`` the others), small params."""
    root = tmp_path_factory.mktemp("reconstruct")
    rng = np.random.default_rng(3)
    (root / "raw").mkdir()
    images = rng.integers(0, 256, size=(400, 28, 28), dtype=np.uint8)
    (root / "raw" / TRAIN_IMAGES).write_bytes(encode_idx(images))
    (root / "raw" / TRAIN_LABELS).write_bytes(encode_idx(rng.integers(0, 10, 400, np.uint8)))
    for shape, hidden in HIDDEN_SHAPES.items():
        save_kernels(he_kernels(rng, hidden), dense_path(root, shape))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["seeds"] = [4]
    params["reconstruct"]["calibration_images"] = 128
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    result = calibrate(root / "params.yaml", root, root / "calibration.npy")
    assert result.returncode == 0, result.stderr
    return root


def calibrate(params: Path, world: Path, out: Path) -> StageRun:
    return run_stage("calibrate", "--params", params, "--seed", "4", "--data", world / "raw",
                     "--out", out)


def test_calibration_set_is_the_drawn_training_rows(world: Path) -> None:
    from prunelab.data.calibration import calibration_indices
    from prunelab.data.datasets import load_train_split

    train = load_train_split(world / "raw")
    rows = calibration_indices(400, 0.1, 4, 128)
    stored = np.load(world / "calibration.npy")
    assert stored.dtype == np.float32
    np.testing.assert_array_equal(stored, train.images[rows])


def dense_path(world: Path, shape: str = "default") -> Path:
    return world / ("dense.npz" if shape == "default" else f"dense-{shape}.npz")


def reconstruct_args(world: Path, *args: str, shape: str = "default") -> list[str]:
    return ["--params", str(world / "params.yaml"), "--calibration",
            str(world / "calibration.npy"), "--dense", str(dense_path(world, shape)), *args]


def run_reconstruct(world: Path, *args: str, shape: str = "default") -> StageRun:
    return run_stage("reconstruct", *reconstruct_args(world, *args, shape=shape))


@pytest.mark.parametrize("method", ["weight_refit", "unit_refit", "wanda"])
@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_stage_prunes_exactly_and_keeps_the_logits_unpruned(
    world: Path, tmp_path: Path, method: str, shape: str
) -> None:
    shapes = kernel_shapes(HIDDEN_SHAPES[shape])
    out = tmp_path / "90.npz"
    result = run_reconstruct(world, "--method", method, "--k", "90", "--seed", "4",
                             "--out", str(out), shape=shape)
    assert result.returncode == 0, result.stderr
    assert f"reconstruct: {method}-90 seed 4" in result.stdout
    kernels = load_kernels(out)
    assert [k.shape for k in kernels] == shapes
    zero_columns = [int(np.all(k == 0, axis=0).sum()) for k in kernels[:-1]]
    if method == "unit_refit":
        assert zero_columns == [count_to_prune(c, 90) for _, c in shapes[:-1]]
    else:
        removed = [int(np.count_nonzero(k == 0)) for k in kernels[:-1]]
        assert removed == [count_to_prune(r * c, 90) for r, c in shapes[:-1]]
    assert np.count_nonzero(np.all(kernels[-1] == 0, axis=0)) == 0  # no class is deleted


def test_stage_reads_no_dataset_file_and_imports_no_tensorflow(world: Path, tmp_path: Path) -> None:
    # The world has no test files: opening one would fail. And no TensorFlow may load, nor the
    # IDX parser: reconstruct reads the calibration set only.
    out = tmp_path / "95.npz"
    heavy = modules_loaded_by(
        "reconstruct", *reconstruct_args(world, "--method", "weight_refit", "--k", "95",
                                         "--seed", "4", "--out", str(out)),
        roots=("tensorflow", "keras", "prunelab.data.idx"))
    assert heavy == []
    assert out.exists()
    assert sorted(p.name for p in (world / "raw").iterdir()) == [TRAIN_IMAGES, TRAIN_LABELS]


def test_stage_is_deterministic(world: Path, tmp_path: Path) -> None:
    outs = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for out in outs:
        result = run_reconstruct(world, "--method", "unit_refit", "--k", "50", "--seed", "4",
                           "--out", str(out))
        assert result.returncode == 0, result.stderr
    assert outs[0].read_bytes() == outs[1].read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "weight", "--k", "50", "--seed", "4"], "--method is 'weight'"),
        (["--method", "wanda", "--k", "100", "--seed", "4"], "--k is '100'"),
        (["--method", "wanda", "--k", "50", "--seed", "0"], "--seed is '0'"),
    ],
)
def test_stage_rejects_bad_arguments_and_writes_nothing(
    world: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out.npz"
    result = run_reconstruct(world, *args, "--out", str(out))
    assert result.returncode == 1
    assert result.stderr.startswith(f"reconstruct: error: {message}")
    assert not out.exists()


def test_too_few_training_images_for_the_calibration_is_a_clear_error(
    world: Path, tmp_path: Path
) -> None:
    params = yaml.safe_load((world / "params.yaml").read_text())
    params["reconstruct"]["calibration_images"] = 5000
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "out.npy"
    result = calibrate(tmp_path / "params.yaml", world, out)
    assert result.returncode == 1
    assert result.stderr.startswith("calibrate: error:")
    assert "reconstruct.calibration_images" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_a_missing_calibration_set_is_a_clear_error(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.npz"
    result = run_stage(
        "reconstruct", "--params", world / "params.yaml", "--calibration", tmp_path / "none.npy",
        "--dense", world / "dense.npz", "--method", "wanda", "--k", "50", "--seed", "4",
        "--out", out)
    assert result.returncode == 1
    assert "cannot read the calibration set" in result.stderr
    assert "dvc repro --glob 'pipelines/reconstruct/dvc.yaml:calibrate@*'" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
