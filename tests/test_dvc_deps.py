"""Every stage declares, as DVC deps, all the project code it runs, and no code it does not.

A stage's code is its script plus every project module the script imports, directly or through
other project modules, at module level or inside a function (a lazy import runs too). If one of
those files is not a dep, editing it leaves `dvc repro` thinking the outputs are current; if a
dep holds none of them, editing it reruns the stage for nothing. Also here: no `dvc.lock` keeps
an entry of a stage that is gone, and the README's rerun table matches the `dvc.yaml` files.

Everything is derived from the dvc.yaml files, params.yaml and the code (tools/pipeline_code.py):
no stage name or dep list is written here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pipeline_code import (
    ALLOWED_UNDECLARED,
    CODE_ROOT,
    TABLE_END,
    TABLE_START,
    import_closure,
    load_stages,
    missing_code_deps,
    pipeline_files,
    readme_with_table,
    relative,
    report,
    rerun_table,
    stage_entry_points,
    stale_code_deps,
)

ROOT = Path(__file__).resolve().parents[1]


# --- the tests ------------------------------------------------------------------------------


def test_every_stage_declares_the_code_it_runs() -> None:
    missing = missing_code_deps(ROOT)
    if missing:
        pytest.fail(report(missing, ROOT), pytrace=False)


def test_no_stage_declares_code_it_does_not_run() -> None:
    """The other direction: a code dep the stage never runs reruns it for nothing."""
    assert stale_code_deps(ROOT) == {}


def test_every_lock_entry_names_a_stage_of_its_dvc_yaml() -> None:
    """DVC keeps the lock entry of a stage that left its dvc.yaml (dvc issue 5293): it is read
    and rewritten after every stage, and misleads whoever reads the lock."""
    for dvc_yaml in pipeline_files(ROOT):
        lock = dvc_yaml.with_suffix(".lock")
        if not lock.is_file():
            continue
        prefix = "" if dvc_yaml.parent == ROOT else f"{relative(dvc_yaml, ROOT)}:"
        defined = {s.name for s in load_stages(ROOT) if s.definition.startswith(prefix)
                   and (prefix or ":" not in s.definition)}
        recorded = set((yaml.safe_load(lock.read_text()) or {}).get("stages") or {})
        dead = sorted(recorded - defined)
        assert not dead, f"{relative(lock, ROOT)} holds entries of no stage: {dead[:5]}"


def test_the_closure_sees_what_a_plain_text_search_sees() -> None:
    """Guard against a checker that silently resolves nothing: every `prunelab.<module>` a
    script names must be in that script's closure."""
    code_root = ROOT / CODE_ROOT
    stages = load_stages(ROOT)
    assert stages, "dvc.yaml has no stages"
    checked = 0
    for stage in stages:
        for entry in stage_entry_points(stage, ROOT):
            closure = {relative(p, ROOT) for p in import_closure(entry, code_root)}
            text = entry.read_text()
            named = set(re.findall(r"(?m)^\s*(?:from|import)\s+prunelab\.([\w.]+)", text))
            for package, group in re.findall(
                    r"(?m)^\s*from\s+prunelab((?:\.\w+)*)\s+import\s+([\w, ]+)", text):
                named.update(f"{package.lstrip('.')}.{m}".lstrip(".")
                             for m in re.split(r"[, ]+", group) if m)
            candidates = {f"prunelab/{m.replace('.', '/')}.py" for m in named}
            expected = {f"{CODE_ROOT}/{c}" for c in candidates if (code_root / c).is_file()}
            assert expected <= closure, f"{stage.name}: {sorted(expected - closure)}"
            checked += len(expected)
    assert checked, "no stage script imports from prunelab: is the regex or the layout stale?"


def test_stage_names_are_unique_across_the_dvc_yaml_files() -> None:
    """So `dvc repro <name>` and the tests can name a stage without its file."""
    definitions = [s.definition for s in load_stages(ROOT)]
    keys = [d.rsplit(":", 1)[-1] for d in dict.fromkeys(definitions)]
    assert len(keys) == len(set(keys)), keys


def test_allowed_undeclared_modules_exist_and_say_why() -> None:
    for path, reason in ALLOWED_UNDECLARED.items():
        assert (ROOT / path).is_file(), f"{path} is allowed but no longer exists"
        assert len(reason.split()) >= 5, f"{path}: say why no edit to it can change an output"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A small project: a script importing `pkg.a` at the top and `pkg.lazy` inside a
    function; `pkg.a` imports `pkg.b`; `pkg.b` imports `c` as `from pkg import c` and `d`
    relatively; `pkg.lazy` imports `pkg.dyn` through importlib."""
    _write(tmp_path, {
        "stages/run.py": (
            "import os\nimport numpy as np\nimport pkg.a\n\n"
            "def main():\n    from pkg.lazy import helper\n    return helper()\n"
        ),
        "stages/pkg/__init__.py": '"""Docstring only."""\n',
        "stages/pkg/a.py": "from pkg.b import thing\n",
        "stages/pkg/b.py": "from pkg import c\nfrom . import d\nthing = c.x\n",
        "stages/pkg/c.py": "x = 1\n",
        "stages/pkg/d.py": "",
        "stages/pkg/lazy.py": (
            "def helper():\n    import importlib\n    return importlib.import_module('pkg.dyn')\n"),
        "stages/pkg/dyn.py": "",
        "stages/pkg/unused.py": "",
        "params.yaml": "grid:\n  ks: [1, 2]\n",
    })
    return tmp_path


def test_closure_is_transitive_and_sees_lazy_and_from_package_imports(toy: Path) -> None:
    closure = import_closure(toy / "stages/run.py", toy / "stages")
    names = {relative(p, toy): (relative(i, toy) if i else None) for p, i in closure.items()}
    assert names == {
        "stages/run.py": None,
        "stages/pkg/__init__.py": "stages/run.py",
        "stages/pkg/a.py": "stages/run.py",
        "stages/pkg/lazy.py": "stages/run.py",  # imported inside main()
        "stages/pkg/b.py": "stages/pkg/a.py",  # through a.py
        "stages/pkg/c.py": "stages/pkg/b.py",  # `from pkg import c`
        "stages/pkg/d.py": "stages/pkg/b.py",  # `from . import d`
        "stages/pkg/dyn.py": "stages/pkg/lazy.py",  # importlib.import_module("pkg.dyn")
    }


def test_checker_reports_a_module_missing_from_deps(toy: Path) -> None:
    _write(toy, {"dvc.yaml": """\
stages:
  complete:
    cmd: python stages/run.py
    deps: [stages/run.py, stages/pkg]
  partial:
    matrix:
      k: ${grid.ks}
    cmd: python stages/run.py --k ${item.k}
    deps:
      - stages/run.py
      - stages/pkg/a.py
      - stages/pkg/b.py
      - stages/pkg/d.py
      - stages/pkg/lazy.py
      - stages/pkg/dyn.py
  no_script:
    cmd: python stages/gone.py
    deps: [stages/gone.py]
"""})
    assert [s.name for s in load_stages(toy)] == [
        "complete", "partial@1", "partial@2", "no_script"]
    missing = missing_code_deps(toy)
    assert missing == {
        "partial": {"stages/pkg/c.py": "stages/pkg/b.py"},
        "no_script": {"stages/gone.py": "(no such file)"},
    }
    message = report(missing, toy)
    assert "stage 'partial'" in message and "      - stages/pkg/c.py" in message
    # Once the package's __init__ runs code, it is needed too.
    _write(toy, {"stages/pkg/__init__.py": "VERSION = 2\n"})
    assert set(missing_code_deps(toy)["partial"]) == {
        "stages/pkg/c.py", "stages/pkg/__init__.py"}
    # A script missing from its own deps is reported as well.
    _write(toy, {"dvc.yaml": (
        "stages:\n  s:\n    cmd: python stages/run.py\n    deps: [stages/pkg]\n")})
    assert missing_code_deps(toy) == {"s": {"stages/run.py": "the stage's command"}}


def test_checker_reports_a_code_dep_the_stage_never_runs(toy: Path) -> None:
    _write(toy, {"dvc.yaml": """\
stages:
  s:
    cmd: python stages/run.py
    deps: [stages/run.py, stages/pkg, stages/pkg/unused.py]
""", "pipelines/sub/dvc.yaml": """\
vars:
  - ../../params.yaml
stages:
  t:
    matrix:
      k: ${grid.ks}
    wdir: ../..
    cmd: python stages/run.py --k ${item.k}
    deps: [stages/run.py, stages/pkg]
"""})
    assert [s.name for s in load_stages(toy)] == ["s", "t@1", "t@2"]
    assert stale_code_deps(toy) == {"s": ["stages/pkg/unused.py"]}
    assert missing_code_deps(toy) == {}
    # A folder dep covering nothing the stage runs is stale too.
    _write(toy, {"stages/other/x.py": "", "dvc.yaml": (
        "stages:\n  s:\n    cmd: python stages/run.py\n    deps: [stages/run.py, stages/pkg, "
        "stages/other]\n")})
    assert stale_code_deps(toy) == {"s": ["stages/other"]}


def test_the_readme_shows_the_rerun_table_of_these_dvc_yaml_files() -> None:
    readme = (ROOT / "README.md").read_text()
    assert TABLE_START in readme and TABLE_END in readme, "README lost the rerun table's markers"
    expected = readme_with_table(readme, rerun_table(ROOT))
    assert readme == expected, (
        "README's rerun table is stale: python tools/pipeline_code.py --readme README.md")


def test_rerun_table_names_the_stages_each_file_makes_stale(toy: Path) -> None:
    _write(toy, {"dvc.yaml": """\
stages:
  s:
    cmd: python stages/run.py
    deps: [stages/run.py, stages/pkg]
  t:
    matrix:
      k: ${grid.ks}
    cmd: python stages/run.py --k ${item.k}
    deps: [stages/run.py, stages/pkg/c.py]
"""})
    table = rerun_table(toy).splitlines()
    assert table[2:] == [
        "| `pkg/c.py`, `run.py` | `s`, `t` (2) | 3 of 3 |",
        "| `pkg/a.py`, `pkg/b.py`, `pkg/lazy.py` | `s` | 1 of 3 |",  # empty modules run nothing
    ]
