"""Fine-tuning: the cubic schedule, the live sub-network, and the stage on a tiny model."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from shapes import DEFAULT_HIDDEN, kernel_shapes
from synthetic import write_striped_idx

from prunelab.model.forward import forward
from prunelab.model.structure import alive_units, shrink
from prunelab.model.weights import load_kernels, save_kernels
from prunelab.pruning.masks import network_masks, prune_network
from prunelab.retraining.finetune import submatrices, write_back
from prunelab.retraining.gradual import cubic_sparsity, gradual_plan

ROOT = Path(__file__).resolve().parents[1]

# ---- the cubic schedule ------------------------------------------------------------------


def test_cubic_sparsity_follows_zhu_and_gupta() -> None:
    # k * (1 - (1 - t)^3): 0 at the start, exactly k at the end, steep first.
    assert [cubic_sparsity(j, 4, 80) for j in range(5)] == [0, 46, 70, 79, 80]
    assert cubic_sparsity(10, 10, 99) == 99 and cubic_sparsity(0, 10, 99) == 0
    with pytest.raises(ValueError, match="outside"):
        cubic_sparsity(5, 4, 50)


@given(total=st.integers(1, 5000), ramp=st.floats(0.01, 1.0), updates=st.integers(1, 40),
       k=st.integers(0, 99))
@settings(max_examples=200, deadline=None)
def test_gradual_plan_rises_to_exactly_k_within_the_ramp(
    total: int, ramp: float, updates: int, k: int
) -> None:
    plan = gradual_plan(total, ramp, updates, k)
    steps = [step for step, _ in plan]
    percents = [percent for _, percent in plan]
    assert steps == sorted(set(steps)) and steps[0] >= 0 and steps[-1] < total
    assert steps[-1] == max(1, round(ramp * total)) - 1  # the last update ends the ramp
    assert percents == sorted(percents) and percents[-1] == k


def test_gradual_plan_spreads_updates_evenly() -> None:
    assert gradual_plan(100, 0.5, 5, 90) == [(9, 44), (19, 71), (29, 84), (39, 89), (49, 90)]
    assert gradual_plan(2, 1.0, 5, 50) == [(0, 39), (1, 50)]  # merged: more updates than steps
    with pytest.raises(ValueError, match="at least one step"):
        gradual_plan(0, 0.5, 5, 50)


# ---- the live sub-network ----------------------------------------------------------------


def random_network(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = [12, 10, 9, 7, 5, 3]
    return [rng.standard_normal((a, b)).astype(np.float32) for a, b in itertools.pairwise(sizes)]


@pytest.mark.parametrize(("method", "k"), [("unit", 50), ("weight", 90), ("weight", 0)])
def test_submatrices_drop_exactly_the_dead_units(method: str, k: int) -> None:
    kernels = random_network()
    masks = network_masks(kernels, method, k)
    small, small_masks = submatrices(kernels, masks)
    pruned = prune_network(kernels, method, k)
    assert [s.shape for s in small] == [s.shape for s in shrink(pruned)]
    for part, mask in zip(small, small_masks, strict=True):
        assert part.shape == mask.shape and np.all(part[~mask] == 0)
    x = np.random.default_rng(1).random((20, 12), dtype=np.float32)
    np.testing.assert_allclose(forward(small, x), forward(pruned, x), rtol=1e-5, atol=1e-6)


def test_write_back_replaces_the_live_block_and_keeps_the_zero_pattern() -> None:
    kernels = random_network()
    masks = network_masks(kernels, "unit", 50)
    small, small_masks = submatrices(kernels, masks)
    trained = [
        np.where(m, s + 0.5, 0).astype(np.float32)
        for s, m in zip(small, small_masks, strict=True)
    ]
    full = write_back(trained, kernels, masks)
    pruned = prune_network(kernels, "unit", 50)
    assert [f.shape for f in full] == [k.shape for k in kernels]
    for result, mask in zip(full, masks, strict=True):
        assert np.all(result[~mask] == 0)
    # The trained values sit in the live block; the pruned network with them computes the same.
    x = np.random.default_rng(2).random((20, 12), dtype=np.float32)
    np.testing.assert_allclose(forward(full, x), forward(trained, x), rtol=1e-5, atol=1e-5)
    alive = alive_units(pruned)
    assert [int(a.sum()) for a in alive] == [s.shape[1] for s in small[:-1]]


# ---- the stage on tiny data --------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Planted-stripe IDX files, two seeds' dense models of the real shapes, tiny params."""
    root = tmp_path_factory.mktemp("finetune")
    write_striped_idx(root / "raw", {"train": 300})
    for seed in (0, 1):
        kernels = [
            (np.random.default_rng(seed + 10 * i).standard_normal(shape) * np.sqrt(2 / shape[0]))
            .astype(np.float32)
            for i, shape in enumerate(kernel_shapes(DEFAULT_HIDDEN))
        ]
        save_kernels(kernels, root / "models" / f"seed-{seed}" / "dense.npz")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["seeds"] = [0, 1]
    params["finetune"].update(epochs=1, batch_size=100)
    params["gradual"].update(updates=3)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def run_finetune(world: Path, out: Path, schedule: str, method: str, k: str, seed: int) -> int:
    """The stage as DVC runs it: one-shot (finetune) starts from the pruned model, gradual from
    the dense."""
    import finetune
    import gradual

    dense = world / "models" / f"seed-{seed}" / "dense.npz"
    start = dense
    if schedule == "oneshot" and k.isdigit() and int(k) < 100:
        start = world / "pruned" / f"{method}-{k}-{seed}.npz"
        save_kernels(prune_network(load_kernels(dense), method, int(k), seed), start)
    stage = finetune if schedule == "oneshot" else gradual
    return stage.main([
        "--params", str(world / "params.yaml"), "--method", method,
        "--k", k, "--seed", str(seed), "--data", str(world / "raw"), "--start", str(start),
        "--out", str(out), "--log", str(out.with_suffix(".json")),
    ])  # fmt: skip


@pytest.mark.parametrize(("schedule", "method", "k"), [
    ("oneshot", "unit", 90), ("oneshot", "weight", 95), ("gradual", "weight", 90),
    ("gradual", "unit", 50),
])  # fmt: skip
@pytest.mark.parametrize("seed", [0, 1])
def test_stage_keeps_exactly_the_pruning_mask_and_learns(
    world: Path, tmp_path: Path, schedule: str, method: str, k: int, seed: int
) -> None:
    out = tmp_path / f"{schedule}-{method}" / f"{k}.npz"
    out.parent.mkdir()
    assert run_finetune(world, out, schedule, method, str(k), seed) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == [f"{k}.json", f"{k}.npz"]
    log = json.loads(out.with_suffix(".json").read_text())
    assert set(log) == {"seconds", "steps", "val_accuracy"}
    assert log["steps"] == 3  # 270 training images / 100 per batch
    dense = load_kernels(world / "models" / f"seed-{seed}" / "dense.npz")
    tuned = load_kernels(out)
    if schedule == "oneshot":
        # The very mask pruning sets, and trained values on the kept weights.
        masks = network_masks(dense, method, k, seed)
        for result, mask in zip(tuned, masks, strict=True):
            np.testing.assert_array_equal(result != 0, mask)
        assert not np.array_equal(tuned[0], prune_network(dense, method, k, seed)[0])
    else:
        # The mask is recomputed along the way; at the end it is `method` at exactly k.
        np.testing.assert_array_equal(
            [np.count_nonzero(t == 0) for t in tuned],
            [np.count_nonzero(p == 0) for p in prune_network(tuned, method, k, seed)],
        )
        assert tuned[-1].tobytes() != dense[-1].tobytes()  # the logits kernel trains too


def test_the_control_at_k_0_trains_the_dense_network(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "0.npz"
    assert run_finetune(world, out, "oneshot", "weight", "0", 1) == 0
    dense, tuned = load_kernels(world / "models" / "seed-1" / "dense.npz"), load_kernels(out)
    assert all(np.count_nonzero(t) == t.size for t in tuned)
    assert all(not np.array_equal(t, d) for t, d in zip(tuned, dense, strict=True))


def test_stage_is_deterministic(world: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        assert run_finetune(world, tmp_path / name / "50.npz", "oneshot", "weight", "50", 1) == 0
    first, second = load_kernels(tmp_path / "a" / "50.npz"), load_kernels(tmp_path / "b" / "50.npz")
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)


def test_stage_rejects_bad_arguments_and_missing_models(world: Path, tmp_path: Path, capsys):
    out = tmp_path / "out.npz"
    assert run_finetune(world, out, "oneshot", "unit", "100", 0) == 1
    assert "--k is '100'" in capsys.readouterr().err
    assert run_finetune(world, out, "gradual", "wanda", "50", 0) == 1  # gradual: magnitude only
    assert "--method is 'wanda'" in capsys.readouterr().err
    partial = tmp_path / "partial"
    shutil.copytree(world, partial)
    shutil.rmtree(partial / "models" / "seed-1")
    assert run_finetune(partial, out, "gradual", "unit", "50", 1) == 1
    assert "seed-1/dense.npz is missing: run `dvc repro`" in capsys.readouterr().err
    assert not out.exists() and not out.with_suffix(".json").exists()
