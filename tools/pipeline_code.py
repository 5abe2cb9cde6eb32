"""What each stage of the pipeline runs, read from the dvc.yaml files and the code.

A stage's code is its script plus every project module the script imports, directly or through
other project modules, at module level or inside a function (a lazy import runs too). From that
import closure and the deps in dvc.yaml, this module finds the code a stage runs but does not
declare (editing it would not rerun the stage), the code deps it declares but never runs (editing
them reruns it for nothing), and which stages an edit of each file makes stale -- the README's
"edit this, these stages rerun" table (``python tools/pipeline_code.py --readme README.md``).

The scripts run as `python stages/<script>.py`, so `stages/` is the first entry of sys.path and
`prunelab` is the package in `stages/prunelab/`. No stage name or dep list is written here.
"""

from __future__ import annotations

import argparse
import ast
import functools
import itertools
import posixpath
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CODE_ROOT = "stages"  # the folder `python stages/<script>.py` puts first on sys.path

# Project modules a stage may run without declaring them, each with the reason no edit to the
# file can change any output. Nothing qualifies today: every stage declares the whole wiring
# folder, which validates and fills in the values it reads and decides what gets written.
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
    # The params it declares: dotted keys or whole sections of params.yaml; "*" for a whole file.
    params: list[str] = field(default_factory=list)


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
    prefix = "" if folder == root else f"{relative(dvc_yaml, root)}:"
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
        base = relative(folder, root) if folder != root else "."
        wdir = posixpath.normpath(posixpath.join(base, body.get("wdir", ".")))
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
                params=_declared_params(body.get("params") or []),
            ))
    for stage in stages:
        key = stage.definition.rsplit(":", 1)[-1]
        stage.deps_owner = deps_owner[id(pipeline["stages"][key].get("deps"))][0]
    return stages


def _declared_params(entries: list[Any]) -> list[str]:
    """A stage's `params:` list flattened: `train.seeds` or `benchmark` as written; a
    `<file>:` mapping with no keys (every param of the file) as "*"."""
    declared: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            declared.append(entry)
            continue
        for keys in entry.values():
            declared.extend(keys or ["*"])
    return declared


def undeclared_param_reads(root: Path, reads: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Per stage script, the params it read (``(script, dotted key)`` pairs, from the read log
    of ``prunelab.wiring.params``) that no stage running that script declares: editing such a
    value would leave the stage's outputs stale."""
    declared: dict[str, set[str]] = {}
    for stage in load_stages(root):
        for script in stage_entry_points(stage, root):
            declared.setdefault(relative(script, root), set()).update(stage.params)
    undeclared: dict[str, set[str]] = {}
    for script, key in reads:
        section = key.split(".", 1)[0]
        keys = declared.get(script, set())
        if not keys & {key, section, "*"}:
            undeclared.setdefault(script, set()).add(key)
    return {script: sorted(keys) for script, keys in sorted(undeclared.items())}


def unread_declared_params(root: Path, reads: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The other direction: per stage script, declared params it never read (a change to them
    reruns it for nothing). A whole section counts as read when any of its keys is."""
    read: dict[str, set[str]] = {}
    for script, key in reads:
        read.setdefault(script, set()).update({key, key.split(".", 1)[0], "*"})
    unread: dict[str, set[str]] = {}
    for stage in load_stages(root):
        for script in stage_entry_points(stage, root):
            name = relative(script, root)
            # "*" is the validation stage's: it checks every value and reads none.
            missing = set(stage.params) - read.get(name, set()) - {"*"}
            if missing:
                unread.setdefault(name, set()).update(missing)
    return {script: sorted(keys) for script, keys in sorted(unread.items())}


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


def relative(path: Path, root: Path) -> str:
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
                missing.setdefault(stage.definition, {})[relative(entry, root)] = "(no such file)"
                continue
            if entry not in closures:
                closures[entry] = import_closure(entry, code_root)
            for module, importer in closures[entry].items():
                path = relative(module, root)
                if path in ALLOWED_UNDECLARED or covered(path, stage.deps, stage.wdir):
                    continue
                if importer is not None and executes_nothing(module):
                    continue
                missing.setdefault(stage.definition, {})[path] = (
                    "the stage's command" if importer is None else relative(importer, root))
    return missing


def stale_code_deps(root: Path) -> dict[str, list[str]]:
    """Per stage definition: each declared code dep (a file or folder under stages/) that holds
    no file the stage's code runs, so editing it would rerun the stage for nothing."""
    code_root = root / CODE_ROOT
    stale: dict[str, list[str]] = {}
    for stage in load_stages(root):
        closure = {
            relative(module, root)
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


def _where(definition: str) -> str:
    """``stages.<key>.deps in <file>`` for a stage definition."""
    file, _, key = definition.rpartition(":")
    return f"stages.{key}.deps in {file or 'dvc.yaml'}"


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
            lines.append(f"  its deps are those of {_where(owner)} (a YAML alias): add there:")
        else:
            lines.append(f"  add to {_where(definition)}:")
        lines.extend(f"      - {path}" for path in sorted(files) if not path.startswith("<"))
    return "\n".join(lines)




# --- the README table: edit this, these stages rerun ------------------------------------------

TABLE_START = "<!-- rerun-table: generated by tools/pipeline_code.py, do not edit -->"
TABLE_END = "<!-- /rerun-table -->"


def code_files(root: Path) -> list[str]:
    """Every project Python file under stages/ that runs when imported (inert ones excluded)."""
    code_root = root / CODE_ROOT
    return sorted(
        relative(path, root) for path in code_root.rglob("*.py")
        if "__pycache__" not in path.parts and not executes_nothing(path)
    )


def rerun_table(root: Path) -> str:
    """Markdown: for each file of stages/ (files with the same stages grouped), the stage
    definitions whose declared deps cover it, with their instance counts under the current
    params -- what `dvc status` reports stale after an edit of the file alone."""
    stages = load_stages(root)
    counts: dict[str, int] = {}
    for stage in stages:
        counts[stage.definition] = counts.get(stage.definition, 0) + 1
    groups: dict[tuple[str, ...], list[str]] = {}
    for path in code_files(root):
        hit = tuple(dict.fromkeys(
            s.definition for s in stages if covered(path, s.deps, s.wdir)))
        groups.setdefault(hit, []).append(path)
    total = sum(counts.values())
    lines = ["| edit (under `stages/`, `prunelab/` left out) | stale afterwards | instances |",
             "|---|---|---:|"]
    for hit, paths in sorted(groups.items(), key=lambda item: (-len(item[0]), item[1][0])):
        short = [p.removeprefix(f"{CODE_ROOT}/prunelab/").removeprefix(f"{CODE_ROOT}/")
                 for p in paths]
        edited = ", ".join(f"`{s}`" for s in short)
        stale = ", ".join(
            f"`{d.rsplit(':', 1)[-1]}`" + (f" ({counts[d]})" if counts[d] > 1 else "")
            for d in hit) or "none: no stage runs it"
        lines.append(f"| {edited} | {stale} | {sum(counts[d] for d in hit)} of {total} |")
    return "\n".join(lines) + "\n"


def readme_with_table(readme: str, table: str) -> str:
    """The README text with the part between the table markers replaced by ``table``."""
    start, end = readme.index(TABLE_START) + len(TABLE_START), readme.index(TABLE_END)
    return readme[:start] + "\n" + table + readme[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, help="rewrite the table in this README")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    table = rerun_table(root)
    if args.readme:
        args.readme.write_text(readme_with_table(args.readme.read_text(), table))
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
