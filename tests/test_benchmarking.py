"""The benchmark's arithmetic on known numbers: route policy, baselines, speedups, storage bytes.

Fake timings go in, so every speedup, baseline and headline has one right value; the real stage
runs once, tiny, in tests/test_benchmark_stage.py.
"""

from __future__ import annotations

import io
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from prunelab.schema.benchmark import BenchmarkParams
from prunelab.schema.every_section import validate_file
from prunelab.speed import benchmarking
from prunelab.speed.benchmarking import PASSES, Benchmark, routes_for
from prunelab.speed.inputs import INPUT_POOL, image_inputs, random_inputs, zero_input_shares
from prunelab.speed.limits import (
    bytes_read,
    cache_levels,
    layer_bytes,
    limit_figures,
    read_bandwidth,
    residence,
)
from prunelab.speed.routes.base import csr_index_types
from prunelab.speed.routes.numba_fused import PackedCSR
from prunelab.speed.scoring import DenseBaselines, PooledDense, score_cell, speedup_spread
from prunelab.speed.storage import compressed_bytes, csr_arrays, csr_bytes, storage_figures
from prunelab.speed.timing import (
    HOT_MAX_CALLS,
    MIN_REPEATS,
    REWARM_BELOW_S,
    Timer,
    Timings,
    hot_timed_calls,
    rewarm_calls,
)
from prunelab.stats.curves import speed_headlines
from prunelab.wiring.machine import cpu_model

DENSE = ("numpy", "numpy-1t", "tf", "litert", "numba")
DENSE_BIG_BATCH = ("numpy", "numpy-1t", "tf", "litert")  # no per-sample numba pass above 256


@pytest.mark.parametrize(("method", "k", "batch", "expected"), [
    ("unit", 90, 1, DENSE),
    ("unit", 90, 256, DENSE),
    ("unit", 90, 257, DENSE_BIG_BATCH),
    ("unit_refit", 95, 1, DENSE),  # unit structure, whatever the k
    ("weight", 0, 1, DENSE),
    ("weight", 49, 4096, DENSE_BIG_BATCH),
    ("weight", 50, 1, ("numba-csr", "scipy-csr")),
    ("weight", 69, 1, ("numba-csr", "scipy-csr")),
    ("weight", 70, 1, ("numba-csr", "scipy-csr", "tf-csr")),
    ("weight", 90, 256, ("numba-csr", "scipy-csr", "tf-csr", "tf-sparse")),
    ("weight", 90, 4096, ("numba-csr", "scipy-csr", "tf-csr")),
    ("weight", 95, 1, ("numba-csr", "scipy-csr", "tf-csr", "tf-sparse", "litert-sparse")),
    ("weight", 96, 4096, ("numba-csr", "scipy-csr", "tf-csr", "litert-sparse")),
    ("weight", 97, 4096, ("numba-csr", "scipy-csr", "tf-csr", "tf-sparse", "litert-sparse")),
])
def test_route_policy(method, k, batch, expected):
    assert routes_for(method, k, batch) == expected


# Dense phase of one batch size, in seconds. numba is fastest; the cut-off for re-timing is
# 1.3 x 1 ms, so only numba and numpy (the fastest library route, always) are re-timed in every
# cell; tf (1.9), numpy-1t (2.6) and litert (4.0) are not.
PHASE = {"numpy": 1.5e-3, "numpy-1t": 2.6e-3, "tf": 1.9e-3, "litert": 4.0e-3, "numba": 1.0e-3}
MODEL = {
    "mac_reduction_compact": 1.25, "mac_reduction_sparse": 10.0,
    "compact_bytes_raw": 400, "compact_bytes_compressed": 300,
    "csr_bytes_raw": 100, "csr_bytes_compressed": 80,
}


def test_dense_baselines_from_known_medians():
    base = DenseBaselines(PHASE)
    assert base.fastest == "numba"
    assert base.library == "numpy"
    assert base.contenders == ["numpy", "numba"]
    assert base.by_runtime == {"numba": "numba", "numpy": "numpy", "tensorflow": "tf",
                               "litert": "litert"}


def test_every_dense_route_within_the_slack_is_retimed():
    base = DenseBaselines({"numpy": 1.2e-3, "tf": 1.29e-3, "litert": 1.31e-3, "numba": 1e-3})
    assert (base.fastest, base.library, base.contenders) == (
        "numba", "numpy", ["numpy", "tf", "numba"])


def test_library_route_is_always_retimed():
    # Every library route is more than 2 ms slower than numba, yet the fastest one is re-timed.
    base = DenseBaselines({"numpy": 5e-3, "tf": 4e-3, "litert": 6e-3, "numba": 1e-3})
    assert (base.fastest, base.library, base.contenders) == ("numba", "tf", ["tf", "numba"])


def samples(ms: float) -> list[float]:
    """Three timed calls whose median is ``ms`` milliseconds."""
    return [ms * 0.9e-3, ms * 1e-3, ms * 1.2e-3]


def phase(**medians_ms: float) -> Timings:
    """A dense phase: three calls of every dense route, around ``medians_ms``."""
    return Timings({name: samples(ms) for name, ms in medians_ms.items()})


def test_speedups_of_a_cell_from_fake_timings():
    # The dense calls of the run: the phase's, then two cells'. Pooled, numba's calls are 1.0,
    # 1.1 and 1.0 ms (x 0.9, 1, 1.2): median 1.1 ms; numpy's 1.6 ms; tf's 2.2 ms; litert was
    # never re-timed (its phase median, 4.4 ms); numpy-1t neither (2.6 ms).
    pooled = PooledDense(phase(numpy=1.6, **{"numpy-1t": 2.6}, tf=2.2, litert=4.4, numba=1.0))
    pooled.add_cell(Timings({"dense:numba": samples(1.1), "dense:numpy": samples(1.6)}))
    timings = Timings({
        "dense:numpy": samples(1.6), "dense:tf": samples(2.2), "dense:numba": samples(1.1),
        "numba-csr": samples(0.22), "scipy-csr": samples(0.8), "litert-sparse": samples(2.2),
    })
    pooled.add_cell(timings)
    chosen = ["numba-csr", "scipy-csr", "litert-sparse"]
    cell, rows = score_cell(timings, pooled, chosen, MODEL,
                            {"method": "weight", "k": 90, "batch": 1}, np.random.default_rng(0))
    assert cell["fastest_dense"]["route"] == "numba"
    assert cell["fastest_dense"]["latency_ms"] == pytest.approx(1.1)
    assert cell["fastest_dense"]["timed_calls"] == 9
    assert cell["library_dense"]["route"] == "numpy"
    assert cell["library_dense"]["latency_ms"] == pytest.approx(1.6)
    assert cell["cell_dense_ms"] == pytest.approx(1.1)
    expected = {
        # route: (vs fastest 1.1 ms, vs library 1.6 ms, vs own runtime, own runtime's route)
        "numba-csr": (5.0, 1.6 / 0.22, 5.0, "numba"),
        "scipy-csr": (1.375, 2.0, 2.0, "numpy"),  # scipy runs on numpy: numpy, 1.6 ms
        "litert-sparse": (0.5, 1.6 / 2.2, 2.0, "litert"),  # litert's phase median, 4.4 ms
    }
    for name, (fastest, library, same, same_route) in expected.items():
        figures = cell[name]
        assert figures["speedup_vs_fastest_dense"] == pytest.approx(fastest)
        # The pooled numba median is the cell's own here (1.1 ms): the check agrees.
        assert figures["speedup_vs_pooled_dense"] == pytest.approx(fastest)
        # Dense and route calls both ran 0.9, 1 and 1.2 times their median in rounds 1-3:
        # every round gives the same ratio, so the resampled medians have no spread.
        assert figures["speedup_p10"] == pytest.approx(fastest)
        assert figures["speedup_p90"] == pytest.approx(fastest)
        assert figures["speedup_vs_library_dense"] == pytest.approx(library)
        assert figures["speedup_vs_same_runtime_dense"] == pytest.approx(same)
        assert figures["same_runtime_dense_route"] == same_route
        assert figures["library_dense_route"] == "numpy"
        assert (figures["mac_reduction"], figures["model_bytes_raw"],
                figures["model_bytes_compressed"], figures["stored_as"]) == (10.0, 100, 80, "csr")
        assert figures["timed_calls"] == 3
    best = cell["best"]
    assert (best["route"], best["speedup_vs_fastest_dense"]) == ("numba-csr", pytest.approx(5.0))
    assert best["speedup_p10"] == cell["numba-csr"]["speedup_p10"]
    assert [(row["method"], row["k"], row["batch"], row["route"]) for row in rows] == [
        ("weight", 90, 1, "numba-csr"), ("weight", 90, 1, "scipy-csr"),
        ("weight", 90, 1, "litert-sparse"),
    ]
    assert rows[1]["fastest_dense_route"] == "numba"
    assert rows[1]["fastest_dense_ms"] == pytest.approx(1.1)
    assert rows[1]["library_dense_ms"] == pytest.approx(1.6)
    assert rows[1]["runtime"] == "numpy" and rows[1]["storage"] == "sparse"
    project = validate_file(Path(__file__).resolve().parents[1] / "params.yaml")
    params = project.replace(prune=replace(project.prune, ks=(90,)),
                     benchmark=replace(project.benchmark, curves=("weight",),
                                       random_input_curves=(), batch_sizes=(1,)))
    assert speed_headlines({"weight": {"90": {"images": {"1": cell}}}}, params) == {
        "weight-b1": {"k90": 5.0}}


def test_a_slow_spell_in_a_cell_cancels_in_its_paired_speedups():
    # The run's other cells say numba runs the dense network in 1 ms; this cell ran at half
    # speed throughout (dense 2 ms, tf 1 ms): paired by round, tf is still 2x faster; against
    # the pooled 1 ms (the check) it would look no faster.
    pooled = PooledDense(phase(numpy=3.0, tf=3.0, numba=1.0))
    for _ in range(3):
        pooled.add_cell(Timings({"dense:numba": samples(1.0)}))
    slow = Timings({"dense:numba": samples(2.0), "tf": samples(1.0)})
    pooled.add_cell(slow)
    cell, _ = score_cell(slow, pooled, ["tf"], MODEL, {}, np.random.default_rng(0))
    assert cell["tf"]["speedup_vs_fastest_dense"] == pytest.approx(2.0)
    assert cell["tf"]["speedup_vs_pooled_dense"] == pytest.approx(1.0)
    assert cell["cell_dense_ms"] == pytest.approx(2.0)
    assert (cell["tf"]["mac_reduction"], cell["tf"]["model_bytes_raw"],
            cell["tf"]["stored_as"]) == (1.25, 400, "compact")


def test_a_speedup_pairs_the_calls_of_each_round():
    # Five rounds, two dense calls and four route calls a round: rounds 2 and 4 ran 3x slow
    # for both. Paired by round the ratio is 4 in every round; the ratio of the cell's two
    # medians would mix slow dense rounds with fast route rounds.
    pace = [1, 3, 1, 3, 1]
    dense = [2e-3 * p * f for p in pace for f in (0.99, 1.01)]
    route = [0.5e-3 * p * f for p in pace for f in (0.98, 0.99, 1.01, 1.02)]
    timings = Timings({"dense:numba": dense, "tf": route}, {"dense:numba": 2, "tf": 4})
    pooled = PooledDense(phase(numpy=3.0, tf=3.0, numba=2.0))
    pooled.add_cell(timings)
    cell, _ = score_cell(timings, pooled, ["tf"], MODEL, {}, np.random.default_rng(0))
    assert cell["tf"]["speedup_vs_fastest_dense"] == pytest.approx(4.0)
    assert (cell["tf"]["speedup_p10"], cell["tf"]["speedup_p90"]) == (
        pytest.approx(4.0), pytest.approx(4.0))


def test_the_paired_reference_is_the_pooled_fastest_of_the_cell():
    # numpy re-timed in the cell is faster there (0.9 ms against numba's 1.0), but over the run
    # numba is the faster (1.0 ms pooled against numpy's 1.5): numba is the reference.
    pooled = PooledDense(phase(numpy=1.6, tf=3.0, numba=1.0))
    timings = Timings({"dense:numba": samples(1.0), "dense:numpy": samples(0.9),
                       "tf": samples(0.25)})
    pooled.add_cell(timings)
    cell, rows = score_cell(timings, pooled, ["tf"], MODEL, {}, np.random.default_rng(0))
    assert cell["fastest_dense"]["route"] == rows[0]["fastest_dense_route"] == "numba"
    assert cell["tf"]["speedup_vs_fastest_dense"] == pytest.approx(4.0)


def test_the_spread_of_a_steady_route_is_narrow_and_seeded():
    reference = np.full(40, 2e-3)
    steady = np.array([1e-3 * (1 + 0.001 * (i % 7)) for i in range(40)])
    low, high = speedup_spread(reference, steady, np.random.default_rng(0))
    assert 1.99 < low <= high < 2.0
    assert (low, high) == speedup_spread(reference, steady, np.random.default_rng(0))


def test_the_spread_widens_with_rounds_whose_ratio_differs():
    # Four rounds: in one the route ran slow (ratio 1) while the dense calls did not; resampled,
    # that round is drawn twice or more in about a quarter of the draws, which moves the 10th
    # percentile of the median ratio below 2.
    reference = np.full(4, 2e-3)
    route = np.array([1e-3, 2e-3, 1e-3, 1e-3])
    low, high = speedup_spread(reference, route, np.random.default_rng(0))
    assert low < 2.0 == high


def test_no_route_faster_than_nothing_leaves_best_empty():
    timings = Timings({"dense:numpy": samples(1.0), "dense:tf": samples(1.0),
                       "dense:numba": samples(1.0)})
    pooled = PooledDense(phase(numpy=1.0, tf=1.0, numba=1.0))
    cell, rows = score_cell(timings, pooled, [], MODEL, {}, np.random.default_rng(0))
    assert rows == []
    assert cell["best"] == {"route": None, "speedup_vs_fastest_dense": 0.0,
                            "speedup_vs_library_dense": 0.0}


def test_latency_figures_of_known_samples():
    figures = Timings({"a": [0.001, 0.002, 0.003, 0.004, 0.005]}).figures("a")
    assert figures == {"latency_ms": pytest.approx(3.0), "latency_p10_ms": pytest.approx(1.4),
                       "latency_p90_ms": pytest.approx(4.6), "timed_calls": 5}


@pytest.mark.parametrize(("call_s", "calls"), [
    (0.03, 0), (0.02, 0), (0.0015, 1), (0.001, 2), (0.0001, 20), (1e-6, 100),
])
def test_rewarm_calls(call_s, calls):
    assert rewarm_calls(call_s) == calls


@pytest.mark.parametrize(("call_s", "calls"), [
    (1e-7, HOT_MAX_CALLS), (1e-5, 50), (1.4e-4, 3), (0.001, 1), (0.015, 1),
])
def test_hot_timed_calls_fill_half_a_millisecond(call_s, calls):
    assert hot_timed_calls(call_s) == calls


@pytest.mark.parametrize(("repeats", "rounds"), [(30, MIN_REPEATS), (3, 3)])
def test_timer_rounds_and_input_cycle(repeats, rounds):
    inputs = [np.full((1, 2), value, np.float32) for value in (0.0, 1.0, 2.0)]
    seen: dict[str, list[float]] = {"a": [], "b": []}
    runners = {name: (lambda batch, name=name: seen[name].append(float(batch[0, 0])))
               for name in seen}
    # A zero budget asks for no round at all: MIN_REPEATS rounds, or fewer if repeats says so.
    timings = Timer(runners, inputs, random.Random(0)).run(warmup=2, repeats=repeats,
                                                           budget_s=0.0)
    # Sub-microsecond calls: re-warmed, and timed HOT_MAX_CALLS times in a row per round.
    assert {name: len(values) for name, values in timings.samples.items()} == {
        "a": rounds * HOT_MAX_CALLS, "b": rounds * HOT_MAX_CALLS}
    for values in seen.values():
        assert values == [float(i % 3) for i in range(len(values))]


def test_timings_of_two_passes_join_round_after_round():
    runners = {"a": lambda batch: None, "b": lambda batch: None}
    timer = Timer(runners, [np.zeros((1, 2), np.float32)], random.Random(0))
    first = timer.run(warmup=1, repeats=2, budget_s=0.0, min_repeats=1)
    # The second pass is told the first's calls per round: it times as many in a row.
    second = timer.run(warmup=1, repeats=3, budget_s=0.0, per_round={"a": 2, "b": 5},
                       min_repeats=3)
    assert {name: len(values) for name, values in second.samples.items()} == {"a": 6, "b": 15}
    same = timer.run(warmup=1, repeats=1, budget_s=0.0, per_round=first.per_round)
    both = first.joined(same)
    assert both.per_round == first.per_round
    assert both.samples["a"] == first.samples["a"] + same.samples["a"]
    with pytest.raises(ValueError, match="same runners and calls per round"):
        first.joined(second)


def test_a_slow_runner_gets_one_timed_call_per_round():
    def slow(batch: np.ndarray) -> None:
        time.sleep(REWARM_BELOW_S)

    runners = {"slow": slow, "fast": lambda batch: None}
    timings = Timer(runners, [np.zeros((1, 2), np.float32)], random.Random(0)).run(
        warmup=1, repeats=2, budget_s=0.0)
    assert {name: len(values) for name, values in timings.samples.items()} == {
        "slow": 2, "fast": 2 * HOT_MAX_CALLS}


# A 4x3 kernel with two non-zeros: (0, 1) = 1 and (3, 2) = 1.
def sparse_kernel() -> np.ndarray:
    kernel = np.zeros((4, 3), np.float32)
    kernel[0, 1] = kernel[3, 2] = 1.0
    return kernel


def test_csr_bytes_and_arrays_of_a_known_matrix():
    # 2 non-zeros x (4-byte value + 4-byte index) + (4 rows + 1) x 4-byte pointers
    assert csr_bytes([sparse_kernel()]) == 2 * 8 + 5 * 4
    arrays = csr_arrays([sparse_kernel()])
    assert arrays["data_0"].tolist() == [1.0, 1.0]
    assert arrays["indices_0"].tolist() == [1, 2]
    assert arrays["indptr_0"].tolist() == [0, 1, 1, 1, 2]
    assert arrays["shape_0"].tolist() == [4, 3]


def test_compressed_bytes_is_the_stored_file_size(tmp_path):
    arrays = {"zeros": np.zeros((1000, 1000), np.float32), "ramp": np.arange(10, dtype=np.int32)}
    path = tmp_path / "stored.npz"
    np.savez_compressed(path, **arrays)
    assert compressed_bytes(arrays) == path.stat().st_size
    assert compressed_bytes(arrays) < 20_000  # 4 MB of zeros compress to a few kB


def test_storage_figures_of_a_network_with_a_dead_unit():
    # 3-4-2: hidden unit 0 reads nothing (column 0 of the first kernel is zero), so the compact
    # network is 3-3-2 and keeps the same 4 non-zeros.
    first = np.zeros((3, 4), np.float32)
    first[0, 1] = first[2, 3] = 2.0
    second = np.ones((4, 2), np.float32)
    second[1, 0] = 0.0
    compact_kernels = [first[:, 1:], second[1:]]
    figures = storage_figures([first, second], compact_kernels)
    compressed = io.BytesIO()
    np.savez_compressed(compressed, kernel_0=compact_kernels[0], kernel_1=compact_kernels[1])
    assert figures["dense_bytes_raw"] == (12 + 8) * 4
    assert figures["compact_bytes_raw"] == (9 + 6) * 4
    # non-zeros 2 and 5 (8 bytes each), pointers (3 + 1) and (3 + 1) (4 bytes each)
    assert figures["csr_bytes_raw"] == 7 * 8 + 8 * 4
    assert figures["compact_bytes_compressed"] == compressed.getbuffer().nbytes


def test_cpu_model_names_the_first_processor_and_its_avx512(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n"
        "flags\t\t: fpu sse2 avx2 avx512f avx512bw\n\nprocessor\t: 1\nmodel name\t: other\n"
    )
    assert cpu_model(info) == "AMD EPYC (family 26, model 2, AVX-512)"
    info.write_text("model name\t: Old CPU\ncpu family\t: 6\nmodel\t: 85\nflags\t: avx2\n")
    assert cpu_model(info) == "Old CPU (family 6, model 85, no AVX-512)"


def test_image_inputs_are_a_seeded_choice_shared_by_every_batch_size():
    images = np.arange(1000 * 4, dtype=np.float32).reshape(1000, 4)
    first = image_inputs(images, (1, 8, 64))
    again = image_inputs(images, (1, 8, 64))
    assert first.kind == "images"
    assert [len(first.pools[n]) for n in (1, 8, 64)] == [INPUT_POOL, INPUT_POOL, 1]
    assert first.pools[8][0].shape == (8, 4) and first.pools[64][0].shape == (64, 4)
    np.testing.assert_array_equal(first.distinct, again.distinct)  # seeded
    # Rows of the split, each at most once, the small pools cut from the front.
    rows = {tuple(row) for row in first.distinct}
    assert len(rows) == len(first.distinct) == 8 * INPUT_POOL
    assert rows <= {tuple(row) for row in images}
    np.testing.assert_array_equal(first.pools[1][1][0], first.distinct[1])
    np.testing.assert_array_equal(first.check, first.distinct[:8])


def test_a_small_test_split_is_drawn_with_replacement():
    images = np.eye(5, dtype=np.float32)
    inputs = image_inputs(images, (16,))
    assert inputs.distinct.shape == (INPUT_POOL * 16, 5)
    assert {tuple(row) for row in inputs.distinct} == {tuple(row) for row in images}


def test_random_inputs_have_no_zero_pixel():
    inputs = random_inputs(784, (1, 256))
    assert inputs.kind == "random" and inputs.distinct.shape == (256, 784)
    assert (inputs.distinct > 0).all() and (inputs.distinct < 1).all()


def test_zero_input_shares_of_a_known_network():
    # Layer 0 multiplies the pixels (one of four is zero); layer 1 the ReLU of x @ W0.
    kernels = [np.array([[1.0, -1.0], [1.0, -1.0]], np.float32), np.ones((2, 1), np.float32)]
    x = np.array([[1.0, 0.0], [2.0, 3.0]], np.float32)
    # x @ W0 = [[1, -1], [5, -5]] -> ReLU [[1, 0], [5, 0]]: half of layer 1's inputs are zero.
    assert zero_input_shares(kernels, x) == [0.25, 0.5]


def test_cache_levels_from_the_system_description(tmp_path):
    for index, (level, kind, size) in enumerate([
            (1, "Data", "32K"), (1, "Instruction", "32K"), (2, "Unified", "1024K"),
            (3, "Unified", "32M")]):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (folder / name).write_text(f"{value}\n")
    levels = cache_levels(tmp_path)
    assert levels == {"L1": 32 << 10, "L2": 1 << 20, "L3": 32 << 20}
    assert [residence(n, levels) for n in (32 << 10, (32 << 10) + 1, 9_500_000, 40 << 20)] == [
        "L1", "L2", "L3", "DRAM"]
    assert cache_levels(tmp_path / "absent") == {}


def test_bytes_read_after_zero_skipping():
    kernels = [np.ones((4, 3), np.float32), sparse_kernel().T.copy()]  # 12 and 2 of 12 non-zero
    # Compact: 4 bytes per weight of the rows read; CSR: 4 + 2 per non-zero (a float32 value,
    # a uint16 column index) plus 4 per row pointer (uint32), as the CSR routes pack them.
    assert bytes_read(kernels, [0.5, 0.0], "compact") == 0.5 * 48 + 48
    assert bytes_read(kernels, [0.5, 0.0], "csr") == 0.5 * (72 + 20) + (12 + 16)
    assert layer_bytes(kernels, "csr") == [92, 28]


def test_csr_indices_take_the_narrowest_type_that_holds_every_column():
    narrow = [np.eye(3, dtype=np.float32), np.zeros((3, 1 << 16), np.float32)]
    assert csr_index_types(narrow) == (np.uint16, np.uint32)
    wide = [np.zeros((2, (1 << 16) + 1), np.float32)]
    assert csr_index_types(wide) == (np.uint32, np.uint32)
    packed = PackedCSR.pack([np.eye(3, dtype=np.float32)], np.array([3, 3]))
    assert (packed.indices.dtype, packed.indptr.dtype) == (np.uint16, np.uint32)
    assert packed.indices.tolist() == [0, 1, 2] and packed.indptr.tolist() == [0, 1, 2, 3]


def test_limit_figures_divide_the_bytes_read_by_the_bandwidth():
    kernels = [np.ones((250, 100), np.float32)]  # 100 kB
    bandwidth = {100_000: 50e9}  # measured before: not measured again
    limit = limit_figures(kernels, [0.2], 100_000, "compact", {"L1": 32 << 10, "L2": 1 << 20},
                          bandwidth)
    assert limit == {"stored_bytes": 100_000, "level": "L2", "bytes_read_per_image": 80_000.0,
                     "bandwidth_gb_s": 50.0, "limit_us": pytest.approx(1.6)}
    assert bandwidth == {100_000: 50e9}


def test_read_bandwidth_is_a_rate():
    # Only its sign and scale: the figure itself belongs to the benchmark stage's metrics.
    assert 1e8 < read_bandwidth(64 << 10) < 1e13


def test_networks_of_one_compact_shape_share_their_rounds(monkeypatch):
    """unit and unit_refit at one k (same compact shape, same routes) are timed together: their
    cells hold the same dense-reference calls, each its own routes' calls; a network of another
    shape gets rounds of its own. Each group is timed once per pass, passes one after another
    over all groups, with the same calls per round. The output keeps the order the networks
    were added in."""
    runs: list[tuple[frozenset, dict | None]] = []

    class RecordingTimer(Timer):
        def run(self, *args, **kwargs) -> Timings:
            per_round = args[3] if len(args) > 3 else kwargs.get("per_round")
            runs.append((frozenset(self.runners), per_round))
            return super().run(*args, **kwargs)

    monkeypatch.setattr(benchmarking, "Timer", RecordingTimer)
    rng = np.random.default_rng(0)
    shapes = ((784, 12), (12, 8), (8, 10))
    dense = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]

    def without_units(drop: int) -> list[np.ndarray]:
        kernels = [k.copy() for k in dense]
        kernels[0][:, :drop] = 0.0  # the first `drop` units of the first hidden layer are dead
        return kernels

    settings = BenchmarkParams(curves=("unit", "unit_refit"), random_input_curves=(),
                               batch_sizes=(1,), repeats=3, warmup=1, cell_budget_s=0.0)
    images = rng.random((64, 784), dtype=np.float32)
    run = Benchmark(dense, {"images": image_inputs(images, (1,))}, settings, lambda line: None)
    run.time_dense()
    run.add_model("unit_refit", "unit_refit", 50, without_units(6), 100, ["images"])
    run.add_model("unit", "unit", 25, without_units(3), 100, ["images"])
    run.add_model("unit", "unit", 50, without_units(6), 100, ["images"])
    runs.clear()  # the dense phase's
    run.time_models()
    groups = [runners for runners, _ in runs[:2]]
    assert [runners for runners, _ in runs] == groups * PASSES
    assert runs[0][1] is None and runs[2][1] is not None  # later passes keep the first's
    cells = {(curve, k): timings for curve, k, _, _, timings, _, _ in run.cells}
    assert list(cells) == [("unit_refit", 50), ("unit", 25), ("unit", 50)]
    reference = next(key for key in cells[("unit", 50)].samples if key.startswith("dense:"))
    together, alone = cells[("unit", 50)], cells[("unit", 25)]
    assert together.samples[reference] is cells[("unit_refit", 50)].samples[reference]
    assert together.samples[reference] is not alone.samples[reference]
    assert together.samples["numba"] is not cells[("unit_refit", 50)].samples["numba"]
    assert set(together.samples) == set(alone.samples)
    _, results, rows = run.scored()
    routes = [name for name in together.samples if not name.startswith("dense:")]
    assert list(results) == ["unit_refit", "unit"] and len(rows) == 3 * len(routes)
