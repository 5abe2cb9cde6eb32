"""The prune stage script: exact counts per seed, clear errors, no TensorFlow."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from shapes import HIDDEN_SHAPES, kernel_shapes
from stage_runner import StageRun, modules_loaded_by, run_stage

from prunelab.model.weights import load_kernels, save_kernels
from prunelab.pruning.masks import count_to_prune, prune_network

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "stages" / "prune.py"
SEEDS = [4, 2]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A params copy with two seeds, and per seed and shape (tests/shapes.py) random kernels: the
    default widths in models/, the others in models-<shape>/ (the stage takes the shape from the
    kernels it reads)."""
    folder = tmp_path_factory.mktemp("prune")
    params = (ROOT / "params.yaml").read_text()
    params = re.sub(r"seeds: \[[0-9, ]*\]", f"seeds: {SEEDS}", params)
    (folder / "params.yaml").write_text(params)
    for shape, hidden in HIDDEN_SHAPES.items():
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            kernels = [rng.standard_normal(rows_columns).astype(np.float32) + 1e-3
                       for rows_columns in kernel_shapes(hidden)]
            assert all(np.count_nonzero(kernel == 0) == 0 for kernel in kernels)
            save_kernels(kernels, dense_file(folder, seed, shape))
    return folder


def run_prune(folder: Path, *args: str) -> StageRun:
    return run_stage("prune", "--params", folder / "params.yaml", *args)


def dense_file(workdir: Path, seed: int, shape: str = "default") -> Path:
    models = "models" if shape == "default" else f"models-{shape}"
    return workdir / models / f"seed-{seed}" / "dense.npz"


@pytest.mark.parametrize(
    ("method", "k"), [("weight", 50), ("unit", 90), ("weight", 0), ("random", 90), ("global", 90)]
)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_stage_prunes_one_seed_and_keeps_logits(
    workdir: Path, tmp_path: Path, method: str, k: int, seed: int, shape: str
) -> None:
    shapes = kernel_shapes(HIDDEN_SHAPES[shape])
    out = tmp_path / method / f"{k}.npz"
    result = run_prune(
        workdir, "--method", method, "--k", str(k), "--seed", str(seed),
        "--dense", str(dense_file(workdir, seed, shape)), "--out", str(out),
    )
    assert result.returncode == 0, result.stderr
    assert f"prune: {method}-{k} seed {seed}" in result.stdout
    assert [path.name for path in out.parent.iterdir()] == [out.name]
    dense = load_kernels(dense_file(workdir, seed, shape))
    pruned = load_kernels(out)
    expected = prune_network(dense, method, k, seed)
    for got, want in zip(pruned, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert [p.shape for p in pruned] == shapes
    removed = [np.count_nonzero(kernel == 0) for kernel in pruned[:-1]]
    if method == "unit":
        assert removed == [count_to_prune(c, k) * r for r, c in shapes[:-1]]
    elif method == "global":  # the same total, spread by one threshold
        assert sum(removed) == sum(count_to_prune(r * c, k) for r, c in shapes[:-1])
    else:
        assert removed == [count_to_prune(r * c, k) for r, c in shapes[:-1]]
    assert pruned[-1].tobytes() == dense[-1].tobytes()


def test_random_pruning_follows_the_seed(workdir: Path, tmp_path: Path) -> None:
    """The same dense model pruned under two seeds: two different random patterns."""
    outs = [tmp_path / f"{seed}.npz" for seed in SEEDS]
    for seed, out in zip(SEEDS, outs, strict=True):
        result = run_prune(
            workdir, "--method", "random", "--k", "50", "--seed", str(seed),
            "--dense", str(dense_file(workdir, SEEDS[0])), "--out", str(out),
        )
        assert result.returncode == 0, result.stderr
    first, second = (load_kernels(out)[0] == 0 for out in outs)
    assert first.sum() == second.sum() and (first != second).any()


def test_stage_does_not_import_tensorflow(workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "unit" / "50.npz"
    heavy = modules_loaded_by(
        "prune", "--params", workdir / "params.yaml", "--method", "unit", "--k", "50",
        "--seed", SEEDS[0], "--dense", dense_file(workdir, SEEDS[0]), "--out", out,
        roots=("tensorflow", "keras"))
    assert heavy == []
    assert out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "magnitude", "--k", "50", "--seed", "4"], "--method is 'magnitude'"),
        (["--method", "weight", "--k", "100", "--seed", "4"], "--k is '100'"),
        (["--method", "unit", "--k", "-1", "--seed", "4"], "--k is '-1'"),
        (["--method", "unit", "--k", "150", "--seed", "4"], "--k is '150'"),
        (["--method", "weight", "--k", "fifty", "--seed", "4"], "--k is 'fifty'"),
        (["--method", "weight", "--k", "12.5", "--seed", "4"], "--k is '12.5'"),
        (["--method", "weight", "--k", "50", "--seed", "3"], "--seed is '3'"),
        (["--method", "weight", "--k", "50", "--seed", "x"], "--seed is 'x'"),
    ],
)
def test_stage_rejects_bad_method_k_or_seed(workdir: Path, args: list[str], message: str) -> None:
    out = workdir / "bad" / "out.npz"
    result = run_prune(
workdir, *args, "--dense", str(dense_file(workdir, 4)), "--out", str(out))
    assert result.returncode == 1
    assert result.stderr.startswith(f"prune: error: {message}")
    assert "Traceback" not in result.stderr
    assert not out.exists() and not out.parent.exists()


def test_stage_reports_a_missing_model_and_writes_nothing(workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "50.npz"
    missing = tmp_path / "models" / "seed-4" / "dense.npz"
    result = run_prune(
        workdir, "--method", "weight", "--k", "50", "--seed", "4", "--dense", str(missing),
        "--out", str(out),
    )
    assert result.returncode == 1
    assert f"prune: error: {missing} is missing: run `dvc repro`" in result.stderr
    assert list(tmp_path.iterdir()) == []
