"""The package's folders and the arrows between them, as the README's code-layout table draws
them: a new import across folders must be a decision, not an accident."""

from __future__ import annotations

from pathlib import Path

from pipeline_code import imported_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stages" / "prunelab"

# folder -> the folders its modules may import (the README's "imports" column).
ARROWS = {
    "wiring": set(),
    "data": {"wiring"},
    "model": {"data", "wiring"},
    "pruning": {"data", "model", "wiring"},
    "retraining": {"data", "model", "pruning", "wiring"},
    "stats": {"data", "model", "pruning", "wiring"},
    "schema": {"data", "wiring"},  # model.py caps the weights of the dataset's inputs
    "speed": {"model", "schema", "stats", "wiring"},
    "figures": {"pruning", "stats", "wiring"},
}


def folder_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        folder = path.relative_to(PACKAGE).parts[0]
        if folder.endswith(".py"):
            continue
        targets = {name.split(".")[1] for name in imported_names(path, ROOT / "stages")
                   if name.startswith("prunelab.") and name.count(".") >= 1}
        found.setdefault(folder, set()).update(targets - {folder})
    return found


def test_every_module_lives_in_a_concern_folder() -> None:
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside the concern folders: {loose}"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(
        ARROWS)


def test_folders_import_only_along_the_documented_arrows() -> None:
    found = folder_imports()
    extra = {folder: sorted(found[folder] - ARROWS[folder]) for folder in found
             if found[folder] - ARROWS[folder]}
    assert not extra, f"imports across folders the layout does not allow: {extra}"
    # And every documented arrow is used: the table describes the code, not a wish.
    assert found == ARROWS


def test_the_arrows_have_no_cycle() -> None:
    done: list[str] = []
    remaining = dict(ARROWS)
    while remaining:
        ready = [f for f, deps in remaining.items() if deps <= set(done)]
        assert ready, f"a cycle among {sorted(remaining)}"
        done.extend(ready)
        for f in ready:
            del remaining[f]
