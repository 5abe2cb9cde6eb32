"""The controls: lottery tickets start from the seed's exact initial weights under the weight
mask, which stays fixed; the re-initialised control shares the mask, not the weights; the scratch
network has exactly unit pruning's compact widths. Then both stages for real, tiny."""

from __future__ import annotations

import json
from pathlib import Path

import lottery
import numpy as np
import pytest
import scratch
import yaml
from shapes import DEFAULT_HIDDEN, HIDDEN_SHAPES, he_kernels, kernel_shapes
from synthetic import write_striped_idx

from prunelab.model.structure import shrink
from prunelab.model.weights import load_kernels, save_kernels
from prunelab.pruning.masks import count_to_prune, prune_network
from prunelab.retraining.controls import (
    embed,
    initial_kernels,
    reinitialised,
    scratch_network,
    ticket_start,
)

ROOT = Path(__file__).resolve().parents[1]
LENET = HIDDEN_SHAPES["lenet-300-100"]


def test_a_ticket_starts_from_the_initial_weights_bit_for_bit():
    initial = initial_kernels(DEFAULT_HIDDEN, 3, 0.2)
    # A trained network's mask stand-in.
    pruned = prune_network(he_kernels(np.random.default_rng(1)), "weight", 90)
    start, masks = ticket_start(initial, pruned)
    for index, (kernel, mask, init) in enumerate(zip(start, masks, initial, strict=True)):
        if index < len(start) - 1:
            np.testing.assert_array_equal(mask, pruned[index] != 0)
        else:
            assert mask.all()  # the logits kernel is never masked
        np.testing.assert_array_equal(kernel[mask], init[mask])  # bit for bit
        assert not kernel[~mask].any()


def test_the_reinitialised_control_has_the_mask_but_other_weights():
    initial, other = initial_kernels(DEFAULT_HIDDEN, 3, 0.2), reinitialised(DEFAULT_HIDDEN, 3, 0.2)
    pruned = prune_network(he_kernels(np.random.default_rng(1)), "weight", 95)
    ticket, ticket_masks = ticket_start(initial, pruned)
    control, control_masks = ticket_start(other, pruned)
    for a, b, mask_a, mask_b in zip(ticket, control, ticket_masks, control_masks, strict=True):
        np.testing.assert_array_equal(mask_a, mask_b)
        assert a.shape == b.shape and not np.array_equal(a[mask_a], b[mask_b])
    # Same distribution: every kernel's spread within 10 % of the original's.
    for a, b in zip(initial, other, strict=True):
        assert b.std() == pytest.approx(a.std(), rel=0.1)


@pytest.mark.parametrize("k", [90, 50])
@pytest.mark.parametrize("shape", list(HIDDEN_SHAPES))
def test_the_scratch_network_has_unit_pruning_compact_widths(k, shape):
    hidden = HIDDEN_SHAPES[shape]
    unit = prune_network(he_kernels(np.random.default_rng(2), hidden), "unit", k)
    small, masks = scratch_network(unit, 4, 0.2)
    kept = tuple(width - count_to_prune(width, k) for width in hidden)
    assert [kernel.shape for kernel in small] == kernel_shapes(kept)
    assert [kernel.shape for kernel in small] == [kernel.shape for kernel in shrink(unit)]
    assert all(mask.all() for mask in masks)
    # A fresh draw, not unit pruning's surviving weights.
    assert (small[1] == shrink(unit)[1]).mean() < 0.01
    full = embed(small, unit)
    assert [kernel.shape for kernel in full] == kernel_shapes(hidden)
    assert [kernel.shape for kernel in shrink(full)] == [kernel.shape for kernel in small]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic IDX files, a params file for two short epochs, and pruned stand-ins of the
    LENET shape (the stages take the shape from the kernels they read)."""
    root = tmp_path_factory.mktemp("controls")
    write_striped_idx(root / "raw", {"train": 400, "t10k": 100})
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update(seeds=[0, 7], epochs=2, batch_size=50)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    trained = he_kernels(np.random.default_rng(5), LENET)
    save_kernels(prune_network(trained, "weight", 95), root / "weight-95.npz")
    save_kernels(prune_network(trained, "unit", 90), root / "unit-90.npz")
    save_kernels(initial_kernels(LENET, 7, params["train"]["dropout"]), root / "init.npz")
    return root


def run_lottery(world: Path, out: Path, *start: str) -> tuple[list[np.ndarray], dict]:
    code = lottery.main(["--params", str(world / "params.yaml"), "--k", "95", "--seed", "7",
                         *start, "--data", str(world / "raw"),
                         "--mask", str(world / "weight-95.npz"), "--out", str(out / "t.npz"),
                         "--log", str(out / "t.json")])
    assert code == 0
    return load_kernels(out / "t.npz"), json.loads((out / "t.json").read_text())


def test_lottery_stage_trains_the_ticket_with_the_mask_fixed(world: Path, tmp_path: Path):
    kernels, log = run_lottery(world, tmp_path, "--init", str(world / "init.npz"))
    pruned, initial = load_kernels(world / "weight-95.npz"), load_kernels(world / "init.npz")
    for index, (kernel, mask_source, init) in enumerate(
            zip(kernels[:-1], pruned[:-1], initial[:-1], strict=True)):
        mask = mask_source != 0
        assert not kernel[~mask].any(), f"kernel {index} revived a pruned weight"
        # Trained: the kept weights moved away from where they started.
        assert not np.array_equal(kernel[mask], init[mask])
    assert set(log) == {"seconds", "steps", "epochs", "best_epoch", "val_accuracy"}
    assert log["epochs"] == 2 and 1 <= log["best_epoch"] <= 2 and log["steps"] == 2 * 8


def test_reinit_stage_uses_the_same_mask_on_other_weights(world: Path, tmp_path: Path):
    ticket, _ = run_lottery(world, tmp_path / "a", "--init", str(world / "init.npz"))
    control, _ = run_lottery(world, tmp_path / "b", "--reinit")
    for a, b in zip(ticket[:-1], control[:-1], strict=True):
        np.testing.assert_array_equal(a != 0, b != 0)
        assert not np.array_equal(a, b)


def test_lottery_stage_needs_exactly_one_start(world: Path, tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        lottery.main(["--params", str(world / "params.yaml"), "--k", "95", "--seed", "7",
                      "--data", str(world / "raw"), "--mask", str(world / "weight-95.npz"),
                      "--out", str(tmp_path / "t.npz"), "--log", str(tmp_path / "t.json")])
    assert "one of the arguments --init --reinit is required" in capsys.readouterr().err


def test_scratch_stage_trains_the_compact_widths(world: Path, tmp_path: Path):
    code = scratch.main(["--params", str(world / "params.yaml"), "--k", "90", "--seed", "7",
                         "--data", str(world / "raw"), "--start", str(world / "unit-90.npz"),
                         "--out", str(tmp_path / "s.npz"), "--log", str(tmp_path / "s.json")])
    assert code == 0
    kernels = load_kernels(tmp_path / "s.npz")
    assert [k.shape for k in kernels] == kernel_shapes(LENET)
    small = shrink(kernels)
    assert [k.shape for k in small] == kernel_shapes((30, 10))  # 90 % of 300 and 100 units gone
    # Zero outside the live units (so shrink finds exactly these widths), and nothing of the
    # pruned model's weights carried over.
    unit = load_kernels(world / "unit-90.npz")
    assert (small[1] == shrink(unit)[1]).mean() < 0.01
    log = json.loads((tmp_path / "s.json").read_text())
    assert log["epochs"] == 2 and log["steps"] == 2 * 8


def test_a_seed_outside_train_seeds_is_refused(world: Path, tmp_path: Path, capsys):
    code = scratch.main(["--params", str(world / "params.yaml"), "--k", "90", "--seed", "3",
                         "--data", str(world / "raw"), "--start", str(world / "unit-90.npz"),
                         "--out", str(tmp_path / "s.npz"), "--log", str(tmp_path / "s.json")])
    assert code == 1
    assert "--seed is '3': it must be one of train.seeds [0, 7]" in capsys.readouterr().err
    assert not (tmp_path / "s.npz").exists()
