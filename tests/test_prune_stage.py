"""The prune stage script, run as DVC runs it: a subprocess from the project root."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prunelab.pruning import count_to_prune
from prunelab.weights import KERNEL_SHAPES, load_kernels, save_kernels

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "stages" / "prune.py"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A params copy and five random kernels of the real shapes (no exact zeros)."""
    folder = tmp_path_factory.mktemp("prune")
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    rng = np.random.default_rng(7)
    kernels = [rng.standard_normal(shape).astype(np.float32) + 1e-3 for shape in KERNEL_SHAPES]
    assert all(np.count_nonzero(kernel == 0) == 0 for kernel in kernels)
    save_kernels(kernels, folder / "dense.npz")
    return folder


def run_stage(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--params", str(folder / "params.yaml"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("method", "k"), [("weight", 50), ("unit", 90), ("weight", 0)])
def test_stage_prunes_hidden_kernels_and_keeps_logits(workdir: Path, method: str, k: int) -> None:
    out = workdir / "pruned" / f"{method}-{k}.npz"
    result = run_stage(
        workdir, "--method", method, "--k", str(k), "--weights", str(workdir / "dense.npz"),
        "--out", str(out),
    )
    assert result.returncode == 0, result.stderr
    assert f"method={method} k={k}" in result.stdout
    dense, pruned = load_kernels(workdir / "dense.npz"), load_kernels(out)
    assert [p.shape for p in pruned] == list(KERNEL_SHAPES)
    for kernel in pruned[:-1]:
        rows, cols = kernel.shape
        removed = count_to_prune(kernel.size, k) if method == "weight" else (
            count_to_prune(cols, k) * rows
        )
        assert np.count_nonzero(kernel == 0) == removed
    assert pruned[-1].tobytes() == dense[-1].tobytes()


def test_stage_does_not_import_tensorflow(workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "unit-50.npz"
    code = (
        "import sys; sys.path.insert(0, 'stages'); import runpy;"
        "module = runpy.run_path('stages/prune.py', run_name='prune');"
        f"rc = module['main'](['--params', {str(workdir / 'params.yaml')!r}, '--method', 'unit',"
        f" '--k', '50', '--weights', {str(workdir / 'dense.npz')!r}, '--out', {str(out)!r}]);"
        "assert rc == 0, rc;"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'));"
        "assert not heavy, heavy"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "magnitude", "--k", "50"], "--method is 'magnitude'"),
        (["--method", "weight", "--k", "100"], "--k is 100"),
        (["--method", "unit", "--k", "-1"], "--k is -1"),
        (["--method", "unit", "--k", "150"], "--k is 150"),
        (["--method", "weight", "--k", "fifty"], "--k is 'fifty'"),
        (["--method", "weight", "--k", "12.5"], "--k is '12.5'"),
    ],
)
def test_stage_rejects_bad_method_or_k(workdir: Path, args: list[str], message: str) -> None:
    out = workdir / "bad" / "out.npz"
    result = run_stage(workdir, *args, "--weights", str(workdir / "dense.npz"), "--out", str(out))
    assert result.returncode == 1
    assert message in result.stderr
    assert "[0, 100)" in result.stderr or "'weight', 'unit'" in result.stderr
    assert not out.exists() and not out.parent.exists()


def test_stage_validates_params_before_anything(workdir: Path, tmp_path: Path) -> None:
    params = (workdir / "params.yaml").read_text()
    params = params.replace("methods: [weight, unit]", "methods: [magnitude]")
    assert "magnitude" in params
    (tmp_path / "params.yaml").write_text(params)
    out = tmp_path / "out.npz"
    # A missing weights file and a bad --k: the params error must be the one reported.
    result = run_stage(
        tmp_path, "--method", "weight", "--k", "500", "--weights", str(tmp_path / "none.npz"),
        "--out", str(out),
    )
    assert result.returncode == 1
    assert "prune.methods" in result.stderr and "--k" not in result.stderr
    assert not out.exists()


def test_stage_reports_missing_weights(workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.npz"
    result = run_stage(
        workdir, "--method", "weight", "--k", "50", "--weights", str(tmp_path / "none.npz"),
        "--out", str(out),
    )
    assert result.returncode == 1
    assert "cannot read kernels" in result.stderr and "none.npz" in result.stderr
    assert not out.exists()
