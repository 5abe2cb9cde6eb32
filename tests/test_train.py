"""The train stage on a few hundred synthetic images: outputs, determinism, the restored epoch,
early parameter errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import train
import yaml
from shapes import DEFAULT_HIDDEN, HIDDEN_SHAPES, kernel_shapes
from synthetic import write_striped_idx

from prunelab.model import training
from prunelab.model.weights import load_kernels
from prunelab.wiring.machine import cpu_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic IDX files whose class is encoded in the image, so one epoch learns something."""
    return write_striped_idx(tmp_path_factory.mktemp("idx"), {"train": 400, "t10k": 200})


def write_params(folder: Path, hidden: tuple[int, ...] = DEFAULT_HIDDEN, **train_overrides
                 ) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["model"]["hidden"] = list(hidden)
    params["train"].update({"epochs": 2, "batch_size": 50, **train_overrides})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def train_once(data_dir: Path, out: Path, params: Path, seed: int = 0) -> dict:
    code = train.main([
        "--params", str(params), "--seed", str(seed), "--data", str(data_dir),
        "--model", str(out / "dense.keras"), "--weights", str(out / "dense.npz"),
        "--init", str(out / "init.npz"),
        "--metrics", str(out / "train.json"), "--live-dir", str(out / "live"),
    ])
    assert code == 0
    return json.loads((out / "train.json").read_text())


def train_without_outputs(params: Path, data_dir: Path, folder: Path, seed: str = "0") -> int:
    """The train stage's exit code for a run that must stop before writing into ``folder``."""
    return train.main([
        "--params", str(params), "--seed", seed, "--data", str(data_dir),
        "--model", str(folder / "m.keras"), "--weights", str(folder / "w.npz"),
        "--init", str(folder / "i.npz"),
        "--metrics", str(folder / "t.json"), "--live-dir", str(folder / "live"),
    ])


def test_same_seed_gives_the_same_model_and_metrics(data_dir: Path, tmp_path: Path) -> None:
    params = write_params(tmp_path)
    first = train_once(data_dir, tmp_path / "a", params)
    second = train_once(data_dir, tmp_path / "b", params)
    for kernel_a, kernel_b in zip(load_kernels(tmp_path / "a/dense.npz"),
                                  load_kernels(tmp_path / "b/dense.npz"), strict=True):
        np.testing.assert_array_equal(kernel_a, kernel_b)
    first.pop("train_seconds"), second.pop("train_seconds")
    assert first == second
    assert first["test_accuracy"] > 0.5  # the planted stripes are easy to learn
    assert first["epochs_run"] == 2 and 1 <= first["best_epoch"] <= 2
    assert first["devices"] == ["CPU"]  # the CPU wheel: what trained it is on record
    assert first["cpu"] == cpu_model()
    kernels = load_kernels(tmp_path / "a/dense.npz")
    assert [k.shape for k in kernels] == kernel_shapes(DEFAULT_HIDDEN)
    assert (tmp_path / "a/dense.keras").stat().st_size > 0
    assert (tmp_path / "a/live/plots/metrics").is_dir()


def test_another_seed_gives_another_model(data_dir: Path, tmp_path: Path) -> None:
    params = write_params(tmp_path, seeds=[1, 2])
    assert train_once(data_dir, tmp_path / "a", params, seed=1)["seed"] == 1
    train_once(data_dir, tmp_path / "b", params, seed=2)
    assert not np.array_equal(load_kernels(tmp_path / "a/dense.npz")[0],
                              load_kernels(tmp_path / "b/dense.npz")[0])


def test_bad_params_stop_before_training(data_dir: Path, tmp_path: Path, capsys) -> None:
    params = write_params(tmp_path, epochs=0)
    code = train_without_outputs(params, data_dir, tmp_path)
    assert code == 1
    assert "train.epochs" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [params]


@pytest.mark.parametrize("shape", ["one-hidden"])
def test_the_network_has_the_widths_of_model_hidden(data_dir: Path, tmp_path: Path,
                                                    shape: str) -> None:
    import keras

    hidden = HIDDEN_SHAPES[shape]
    metrics = train_once(data_dir, tmp_path, write_params(tmp_path, hidden))
    assert [k.shape for k in load_kernels(tmp_path / "dense.npz")] == kernel_shapes(hidden)
    assert [k.shape for k in load_kernels(tmp_path / "init.npz")] == kernel_shapes(hidden)
    model = keras.models.load_model(tmp_path / "dense.keras")
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [*hidden, 10]
    assert metrics["test_accuracy"] > 0.5  # one hidden layer learns the stripes too


@pytest.mark.parametrize("hidden", [[], [0, 10], [300.5], "300", [9000], [100] * 9,
                                    [8192, 8192]])
def test_a_bad_model_hidden_stops_before_training(data_dir: Path, tmp_path: Path, capsys,
                                                  hidden) -> None:
    params = write_params(tmp_path)
    raw = yaml.safe_load(params.read_text())
    raw["model"]["hidden"] = hidden
    params.write_text(yaml.safe_dump(raw))
    code = train_without_outputs(params, data_dir, tmp_path)
    assert code == 1
    err = capsys.readouterr().err
    assert f"'model.hidden' is {hidden!r}: it must be a list of 1 to 8 hidden widths" in err
    assert "at most 40,000,000 weights" in err
    assert list(tmp_path.iterdir()) == [params]


@pytest.mark.parametrize("seed", ["5", "x", "-1", ""])
def test_a_seed_outside_train_seeds_is_refused(
    data_dir: Path, tmp_path: Path, capsys, seed
) -> None:
    params = write_params(tmp_path, seeds=[0, 1])
    code = train_without_outputs(params, data_dir, tmp_path, seed)
    assert code == 1
    assert f"--seed is {seed!r}: it must be one of train.seeds [0, 1]" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [params]


def test_the_best_validation_epoch_is_restored(data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """Scripted validation accuracies make the middle one of three epochs the best: both outputs
    must hold the kernels that epoch ended with, not the last epoch's."""
    import keras

    params = write_params(tmp_path, epochs=3)
    scripted, seen = iter([0.5, 0.9, 0.7]), []
    scores = training.accuracy_and_loss

    def scripted_scores(kernels, images, labels):
        seen.append(kernels)
        _, loss = scores(kernels, images, labels)
        return next(scripted), loss

    monkeypatch.setattr(training, "accuracy_and_loss", scripted_scores)
    metrics = train_once(data_dir, tmp_path / "out", params)
    assert metrics["best_epoch"] == 2 and metrics["best_val_accuracy"] == 0.9
    assert len(seen) == 3 and not np.array_equal(seen[1][0], seen[2][0])
    saved = load_kernels(tmp_path / "out/dense.npz")
    model = keras.models.load_model(tmp_path / "out/dense.keras")
    in_model = [layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")]
    for kept, npz, keras_kernel in zip(seen[1], saved, in_model, strict=True):
        np.testing.assert_array_equal(npz, kept)
        np.testing.assert_array_equal(keras_kernel, kept)


def test_a_validation_split_taking_every_image_is_a_clear_error(
    data_dir: Path, tmp_path: Path, capsys
) -> None:
    params = write_params(tmp_path, validation_split=0.999)  # all 400 training images
    code = train_without_outputs(params, data_dir, tmp_path)
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("train: error: a validation fraction of 0.999 leaves no training")
    assert "lower train.validation_split" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [params]


def test_the_kept_initial_weights_are_where_training_started(data_dir: Path,
                                                             tmp_path: Path) -> None:
    """Lottery tickets start from init.npz: it must be the seed's real initialisation (what
    ``initial_kernels`` regenerates from the seed alone, bit for bit), not the trained weights."""
    from prunelab.retraining.controls import initial_kernels

    lenet = HIDDEN_SHAPES["lenet-300-100"]
    params = write_params(tmp_path, lenet, dropout=0.2)
    train_once(data_dir, tmp_path, params, seed=1)
    kept = load_kernels(tmp_path / "init.npz")
    regenerated = initial_kernels(lenet, 1, 0.2)
    assert [k.shape for k in kept] == kernel_shapes(lenet)
    assert all(np.array_equal(a, b) for a, b in zip(kept, regenerated, strict=True))
    trained = load_kernels(tmp_path / "dense.npz")
    assert not any(np.array_equal(a, b) for a, b in zip(kept, trained, strict=True))
