"""Every stage declares, as DVC deps, all the project code it runs.

A stage's code is its script plus every project module the script imports, directly or through
other project modules, at module level or inside a function (a lazy import runs too). If one of
those files is not a dep, editing it leaves `dvc repro` thinking the outputs are current.

Everything is derived from dvc.yaml, params.yaml and the code: no stage name or dep list is
written here. The scripts run as `python stages/<script>.py`, so `stages/` is the first entry of
sys.path and `prunelab` is the package in `stages/prunelab/`.
"""

from __future__ import annotations

import ast
import functools
import itertools
import posixpath
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CODE_ROOT = "stages"  # the folder `python stages/<script>.py` puts first on sys.path

# Project modules a stage may run without declaring them, each with the reason no edit to the
# file can change any output. Nothing qualifies today: params.py validates and fills in the
# values every stage reads (and imports the method names from pruning.py), atomic.py decides
# what gets written.
ALLOWED_UNDECLARED: dict[str, str] = {}

_PLACEHOLDER = re.compile(r"\$\{\s*([^}]*?)\s*\}")
_PYTHON = re.compile(r"(^|/)python(3(\.\d+)?)?$")


# --- the import closure ---------------------------------------------------------------------


def module_files(name: str, code_root: Path) -> list[Path]:
    """The project files that `import <name>` executes: each package's __init__.py on the way
    down, then the module itself. Empty for a module outside the project (numpy, keras, ...)."""
    files: list[Path] = []
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        base = code_root.joinpath(*parts[:depth])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif base.is_dir():
            continue  # a namespace package: nothing runs
        elif depth == len(parts) and base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
        else:
            break
    return files


def _package_of(path: Path, code_root: Path) -> list[str]:
    """The dotted package a module lives in, as parts (for relative imports)."""
    parts = list(path.relative_to(code_root).with_suffix("").parts)
    return parts if path.name == "__init__.py" else parts[:-1]


def imported_names(path: Path, code_root: Path) -> set[str]:
    """Every module name `path` may import, anywhere in its body (functions included)."""
    return set(_names_in(path.read_text(), tuple(_package_of(path, code_root)), str(path)))


@functools.cache
def _names_in(text: str, package: tuple[str, ...], filename: str) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(text, filename=filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `from . import x`, `from ..pkg import y`
                parts = list(package[: len(package) - node.level + 1])
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                names.add(base)
            # `from pkg import x` imports the submodule pkg.x when there is one.
            names.update(
                f"{base}.{alias.name}" if base else alias.name
                for alias in node.names
                if alias.name != "*"
            )
        elif isinstance(node, ast.Call) and _is_import_call(node):
            names.add(node.args[0].value)
    return frozenset(names)


def _is_import_call(node: ast.Call) -> bool:
    """`importlib.import_module("name")` or `__import__("name")` with a literal name."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return (
        called in {"import_module", "__import__"}
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def import_closure(script: Path, code_root: Path) -> dict[Path, Path | None]:
    """Every project file running `script` executes, each mapped to the file that first imports
    it (None for the script itself)."""
    found: dict[Path, Path | None] = {script: None}
    queue = [script]
    while queue:
        current = queue.pop()
        for name in sorted(imported_names(current, code_root)):
            for module in module_files(name, code_root):
                if module not in found:
                    found[module] = current
                    queue.append(module)
    return found


def executes_nothing(path: Path) -> bool:
    """A module whose body is at most a docstring (typically a package's __init__.py): importing
    it runs no code, so no edit of it can change an output until it holds a statement — and then
    this is false and the file must be a dep."""
    return _is_inert(path.read_text())


@functools.cache
def _is_inert(text: str) -> bool:
    body = ast.parse(text).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return not body


# --- the stages of dvc.yaml -----------------------------------------------------------------


@dataclass
class Stage:
    definition: str  # `<dvc.yaml path>:<key under stages:>`, as DVC names it outside the root
    name: str  # the instance name DVC shows (`train@0` for a matrix stage)
    cmds: list[str]
    deps: list[str]
    wdir: str = "."  # relative to the project root
    deps_owner: str = ""  # the first stage using this deps list (YAML anchors share lists)


def _lookup(context: dict[str, Any], dotted: str) -> Any:
    """``train.seeds``, ``item.k`` or ``train.seeds[0]`` (DVC's index syntax) in ``context``."""
    value: Any = context
    for part in re.findall(r"[^.\[\]]+", dotted):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def interpolate(value: Any, context: dict[str, Any]) -> Any:
    """DVC's `${...}` templating, enough for dvc.yaml: a lone placeholder keeps its type (a list
    for a matrix dimension), placeholders inside text become text."""
    if isinstance(value, list):
        return [interpolate(v, context) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, context) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    lone = _PLACEHOLDER.fullmatch(value)
    if lone:
        return _lookup(context, lone.group(1))
    return _PLACEHOLDER.sub(lambda m: str(_lookup(context, m.group(1))), value)


def pipeline_files(root: Path) -> list[Path]:
    """Every dvc.yaml of the project: the root one first, then those under pipelines/."""
    files = [root / "dvc.yaml"] if (root / "dvc.yaml").is_file() else []
    return files + sorted((root / "pipelines").glob("*/dvc.yaml"))


def _variables(pipeline: dict[str, Any], folder: Path) -> dict[str, Any]:
    """What `${...}` sees in a dvc.yaml: the params.yaml beside it, then its `vars` (files
    relative to its folder, or inline mappings)."""
    params_file = folder / "params.yaml"
    variables = yaml.safe_load(params_file.read_text()) if params_file.is_file() else {}
    for entry in pipeline.get("vars") or []:
        if isinstance(entry, str):
            variables.update(yaml.safe_load((folder / entry).read_text()))
        elif isinstance(entry, dict):
            variables.update(entry)
    return variables


def load_stages(root: Path) -> list[Stage]:
    """Every stage instance of every dvc.yaml of `root`, matrix stages expanded."""
    stages: list[Stage] = []
    for dvc_yaml in pipeline_files(root):
        stages.extend(_file_stages(root, dvc_yaml))
    return stages


def _file_stages(root: Path, dvc_yaml: Path) -> list[Stage]:
    pipeline = yaml.safe_load(dvc_yaml.read_text())
    folder = dvc_yaml.parent
    variables = _variables(pipeline, folder)
    prefix = "" if folder == root else f"{_relative(dvc_yaml, root)}:"
    stages: list[Stage] = []
    deps_owner: dict[int, list[str]] = {}  # YAML anchors make stages share one list object
    for key, body in (pipeline.get("stages") or {}).items():
        definition = prefix + key
        if "foreach" in body:
            raise NotImplementedError(f"stage {definition!r}: foreach/do is not handled here")
        deps_owner.setdefault(id(body.get("deps")), []).append(definition)
        if "matrix" in body:
            matrix = {k: interpolate(values, variables) for k, values in body["matrix"].items()}
            combos = [dict(zip(matrix, values)) for values in itertools.product(*matrix.values())]
        else:
            combos = [None]
        wdir = posixpath.normpath(
            posixpath.join(_relative(folder, root) if folder != root else ".", body.get("wdir", ".")))
        for item in combos:
            context = dict(variables)
            name = key
            if item is not None:
                instance = "-".join(str(v) for v in item.values())
                context.update(item=item, key=instance)
                name = f"{key}@{instance}"
            cmd = interpolate(body.get("cmd", ""), context)
            stages.append(Stage(
                definition=definition,
                name=name,
                cmds=cmd if isinstance(cmd, list) else [cmd],
                deps=[next(iter(d)) if isinstance(d, dict) else d
                      for d in interpolate(body.get("deps") or [], context)],
                wdir=wdir,
            ))
    for stage in stages:
        key = stage.definition.rsplit(":", 1)[-1]
        stage.deps_owner = deps_owner[id(pipeline["stages"][key].get("deps"))][0]
    return stages


def stage_entry_points(stage: Stage, root: Path) -> list[Path]:
    """The Python files a stage's command runs: `python [opts] script.py ...` or `python -m mod`."""
    code_root = root / CODE_ROOT
    entries: list[Path] = []
    for cmd in stage.cmds:
        tokens = shlex.split(cmd)
        for position, token in enumerate(tokens):
            if not _PYTHON.search(token):
                continue
            rest = tokens[position + 1:]
            while rest and rest[0].startswith("-") and rest[0] != "-m":
                rest = rest[1:]
            if len(rest) >= 2 and rest[0] == "-m":
                entries.extend(module_files(rest[1], code_root))
            elif rest and rest[0].endswith(".py"):
                entries.append(root / stage.wdir / rest[0])
    return entries


def _relative(path: Path, root: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def covered(path: str, deps: list[str], wdir: str) -> bool:
    """True when a dep is the file or a folder holding it."""
    for dep in deps:
        dep = posixpath.normpath(posixpath.join(wdir, dep))
        if path == dep or path.startswith(dep.rstrip("/") + "/"):
            return True
    return False


def missing_code_deps(root: Path) -> dict[str, dict[str, str]]:
    """Per stage definition of `root/dvc.yaml`: each project file its code runs that no dep
    covers, mapped to the file importing it. Stages whose command runs no Python file show up
    with the key '<no python entry point>'."""
    code_root = root / CODE_ROOT
    missing: dict[str, dict[str, str]] = {}
    closures: dict[Path, dict[Path, Path | None]] = {}
    for stage in load_stages(root):
        entries = stage_entry_points(stage, root)
        if not entries:
            missing.setdefault(stage.definition, {})["<no python entry point>"] = stage.cmds[0]
            continue
        for entry in entries:
            if not entry.is_file():
                missing.setdefault(stage.definition, {})[_relative(entry, root)] = "(no such file)"
                continue
            if entry not in closures:
                closures[entry] = import_closure(entry, code_root)
            for module, importer in closures[entry].items():
                path = _relative(module, root)
                if path in ALLOWED_UNDECLARED or covered(path, stage.deps, stage.wdir):
                    continue
                if importer is not None and executes_nothing(module):
                    continue
                missing.setdefault(stage.definition, {})[path] = (
                    "the stage's command" if importer is None else _relative(importer, root))
    return missing


def stale_code_deps(root: Path) -> dict[str, list[str]]:
    """Per stage definition: each declared code dep (a file or folder under stages/) that holds
    no file the stage's code runs, so editing it would rerun the stage for nothing."""
    code_root = root / CODE_ROOT
    stale: dict[str, list[str]] = {}
    for stage in load_stages(root):
        closure = {
            _relative(module, root)
            for entry in stage_entry_points(stage, root) if entry.is_file()
            for module in import_closure(entry, code_root)
        }
        for dep in stage.deps:
            path = posixpath.normpath(posixpath.join(stage.wdir, dep))
            if not path.startswith(CODE_ROOT + "/"):
                continue
            if not any(covered(module, [path], ".") for module in closure):
                stale.setdefault(stage.definition, [])
                if path not in stale[stage.definition]:
                    stale[stage.definition].append(path)
    return stale


def report(missing: dict[str, dict[str, str]], root: Path) -> str:
    stages = {stage.definition: stage for stage in load_stages(root)}
    lines = ["These stages run project code that their dvc.yaml deps do not list, so editing it "
             "would not rerun them:"]
    for definition, files in missing.items():
        lines.append(f"\nstage '{definition}':")
        for path, importer in sorted(files.items()):
            lines.append(f"    {path}   <- imported by {importer}")
        owner = stages[definition].deps_owner
        if owner != definition:
            lines.append(f"  its deps are stages.{owner}.deps (a YAML alias): add there:")
        else:
            lines.append(f"  add to stages.{definition}.deps in dvc.yaml:")
        lines.extend(f"      - {path}" for path in sorted(files) if not path.startswith("<"))
    return "\n".join(lines)


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
        prefix = "" if dvc_yaml.parent == ROOT else f"{_relative(dvc_yaml, ROOT)}:"
        defined = {s.name for s in load_stages(ROOT) if s.definition.startswith(prefix)
                   and (prefix or ":" not in s.definition)}
        recorded = set((yaml.safe_load(lock.read_text()) or {}).get("stages") or {})
        dead = sorted(recorded - defined)
        assert not dead, f"{_relative(lock, ROOT)} holds entries of no stage: {dead[:5]}"


def test_the_closure_sees_what_a_plain_text_search_sees() -> None:
    """Guard against a checker that silently resolves nothing: every `prunelab.<module>` a
    script names must be in that script's closure."""
    code_root = ROOT / CODE_ROOT
    stages = load_stages(ROOT)
    assert stages, "dvc.yaml has no stages"
    checked = 0
    for stage in stages:
        for entry in stage_entry_points(stage, ROOT):
            closure = {_relative(p, ROOT) for p in import_closure(entry, code_root)}
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
    names = {_relative(p, toy): (_relative(i, toy) if i else None) for p, i in closure.items()}
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
