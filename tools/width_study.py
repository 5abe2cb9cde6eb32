"""The width study's table and figure, from committed files: how much of a wider or narrower
network one-shot pruning can delete.

    python tools/width_study.py --record width-lenet '[300,100]'   # record one width
    python tools/width_study.py --record width-double '[2000,2000,1000,400]' \
        -S 'train.seeds=[0]'                 # a cheaper record: one seed instead of three
    python tools/width_study.py            # writes metrics/width/study.md and study.png
    python tools/width_study.py --check    # exit 1 if the committed table is not what it writes

Each width is a recorded experiment (``tools/record_experiment.py``,
``metrics/experiments/width-*/``: its ``pruning.json`` and the ``model.hidden`` override in
``record.json``), run up to the ``evaluate`` stage with :data:`ONE_SHOT_OVERRIDES`; the default
widths (x 1) are the default run's ``metrics/pruning.json`` and ``params.yaml``. A width not
recorded yet is listed as such. Per width and one-shot method, the table gives the largest k
whose mean test accuracy over the seeds is within 1 and within 2 points of *that width's own*
dense accuracy (rounded to 6 decimals, as the frontier decides "within"), and the non-zero
weights that still matter there (``effective_nonzero_params``: weights of dead units not
counted; mean over seeds). ``-S`` replaces a study override of the same key (fewer seeds or
curves for a width too slow for the whole set); the table's run list names every such change.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
import record_experiment  # noqa: E402

from prunelab.figures.charts import DPI, MARKERS, plt, png_bytes  # noqa: E402
from prunelab.figures.tables import markdown  # noqa: E402
from prunelab.schema.model import weight_count  # noqa: E402

#: (label, record name) in the table's order; None: the default run.
WIDTHS = (
    ("× ¼", "width-quarter"),
    ("× ½", "width-half"),
    ("× 1", None),
    ("× 2", "width-double"),
    ("LeNet-300-100", "width-lenet"),
)
METHODS = ("weight", "unit", "weight_refit", "unit_refit")
#: The study's params besides the widths: the one-shot curves of METHODS at every k, fine-tuning
#: of weight and unit at k = 90 and the default gradual run (cheap at small widths), no scratch
#: control (12 trainings), the benchmark's curves to match; the record stops at evaluate.
ONE_SHOT_OVERRIDES = (
    "prune.methods=[weight,unit]",
    "reconstruct.methods=[weight_refit,unit_refit]",
    "finetune.ks=[90]",
    "scratch.ks=[]",
    "benchmark.curves=[weight,unit,weight_refit,unit_refit,weight+ft,unit+ft,weight+gradual]",
)
TARGET = "evaluate"
DROPS_PT = (1, 2)
OUT = Path("metrics") / "width"
#: Reads a file's text by its path relative to the project root (None if absent).
Reader = Callable[[str], "str | None"]


def study_overrides(hidden: str, changes: list[str]) -> list[str]:
    """The overrides of one width's record: the widths, then :data:`ONE_SHOT_OVERRIDES` with
    ``changes`` (``key=value``) replacing the override of the same key or added after them."""
    def key(override: str) -> str:
        return override.split("=", 1)[0]
    changed = {key(change): change for change in changes}
    kept = [changed.pop(key(override), override) for override in ONE_SHOT_OVERRIDES]
    return [f"model.hidden={hidden}", *kept, *changed.values()]


def departures(meta: dict) -> list[str]:
    """A record's overrides besides its widths and the study's own."""
    return [override for override in meta["overrides"]
            if not override.startswith("model.hidden=") and override not in ONE_SHOT_OVERRIDES]


def seeds_label(label: str, meta: dict | None) -> str:
    """The width's label, with its seed count where a record overrides ``train.seeds``."""
    seeds = [yaml.safe_load(override.split("=", 1)[1]) for override in
             (meta or {"overrides": []})["overrides"] if override.startswith("train.seeds=")]
    if not seeds:
        return label
    return f"{label} ({len(seeds[0])} seed{'s' if len(seeds[0]) != 1 else ''})"


def workspace_reader(root: Path) -> Reader:
    def read(path: str) -> str | None:
        return (root / path).read_text() if (root / path).exists() else None
    return read


def load_width(read: Reader, record: str | None) -> tuple[list[int], dict, dict | None] | None:
    """``(hidden widths, pruning report, record.json or None for the default run)`` of one
    width, or None if not recorded."""
    if record is None:
        params = yaml.safe_load(read("params.yaml") or "{}")
        report = json.loads(read("metrics/pruning.json") or "{}")
        return list(params["model"]["hidden"]), report, None
    folder = f"metrics/experiments/{record}"
    meta_text = read(f"{folder}/record.json")
    if meta_text is None:
        return None
    meta = json.loads(meta_text)
    hidden = [yaml.safe_load(o.split("=", 1)[1]) for o in meta["overrides"]
              if o.startswith("model.hidden=")]
    return hidden[0], json.loads(read(f"{folder}/pruning.json") or "{}"), meta


def largest_within(entries: dict, dense_accuracy: float, drop_pt: float) -> str | None:
    """The largest k (as in the report) whose mean accuracy is within ``drop_pt`` points."""
    floor = round(dense_accuracy - drop_pt / 100, 6)
    within = [k for k in entries if round(entries[k]["test_accuracy"], 6) >= floor]
    return max(within, key=int, default=None)


def table(read: Reader) -> str:
    """The study's Markdown: the table, then each recorded experiment's wall time and CPU."""
    rows, runs = [], []
    for label, record in WIDTHS:
        loaded = load_width(read, record)
        if loaded is None:
            rows.append([label, "—", "—", "not recorded yet", *["—"] * (1 + 2 * len(DROPS_PT))])
            continue
        hidden, report, meta = loaded
        if meta is not None:
            timed = ("not timed (recorded from DVC's experiment after its run)"
                     if meta["wall_seconds"] is None else
                     f"{meta['wall_seconds']:.0f} s, {meta['stages_run']} stages")
            changes = "".join(f"; `{override}`" for override in departures(meta))
            runs.append(f"- {label} (`{record}`): {timed}; {meta['cpu']}{changes}")
        dense = report["dense"]
        for method in METHODS:
            cells = []
            for drop in DROPS_PT:
                k = largest_within(report[method], dense["test_accuracy"], drop)
                kept = report[method][k]["effective_nonzero_params"] if k is not None else None
                cells += ["—" if k is None else f"{k} %",
                          "—" if kept is None else f"{kept:,.0f}"]
            rows.append([seeds_label(label, meta), "-".join(map(str, hidden)),
                         f"{weight_count(hidden):,}",
                         f"{dense['test_accuracy']:.4f}", method, *cells])
    preamble = [
        "# Width study: how much one-shot pruning deletes at each width",
        "",
        "Generated by `python tools/width_study.py` from the recorded experiments "
        "`metrics/experiments/width-*/` and the default run (× 1). Mean test accuracy over the "
        "seeds; per one-shot method, the largest k (% pruned per hidden matrix) within 1 and 2 "
        "points of the width's own dense accuracy, and the non-zero weights that still matter "
        "there (dead units' weights not counted).",
        "",
    ]
    columns = ["width", "hidden", "weights", "dense accuracy", "method"]
    for drop in DROPS_PT:
        columns += [f"largest k within {drop} pt", "non-zero weights there"]
    text = markdown(preamble, columns, ["---", "---", "---:", "---:", "---"] +
                    ["---:"] * (2 * len(DROPS_PT)), rows)
    return text + ("\nRecorded runs (wall time of `dvc exp run`, all stages; CPU; each override "
                   "besides the study's):\n\n") + "\n".join(
        runs or ["- none yet"]) + "\n"


def figure(read: Reader) -> bytes:
    """A column per one-shot method, a line per width (band: min-max over seeds): accuracy
    against k on top, against the non-zero weights that still matter below (log scale: a
    width-independent size the task needs would make the lower curves fall together)."""
    fig, axes = plt.subplots(2, len(METHODS), figsize=(18, 9), dpi=DPI, sharey=True)
    palette = plt.get_cmap("viridis")
    loaded = [(label, load_width(read, record)) for label, record in WIDTHS]
    loaded = [(label, data) for label, data in loaded if data is not None]
    for column, method in enumerate(METHODS):
        for index, (label, (hidden, report, meta)) in enumerate(loaded):
            entries = report[method]
            ks = sorted(entries, key=int)
            style = {"color": palette(index / max(1, len(loaded) - 1)),
                     "marker": MARKERS[index % len(MARKERS)]}
            low = [entries[k]["test_accuracy_min"] for k in ks]
            high = [entries[k]["test_accuracy_max"] for k in ks]
            for row, xs in enumerate(([int(k) for k in ks],
                                      [entries[k]["effective_nonzero_params"] for k in ks])):
                axis = axes[row, column]
                axis.plot(xs, [entries[k]["test_accuracy"] for k in ks], linewidth=1.6,
                          label=f"{seeds_label(label, meta)}: {'-'.join(map(str, hidden))}",
                          **style)
                axis.fill_between(xs, low, high, color=style["color"], alpha=0.18, linewidth=0)
        axes[0, column].set_title(method, fontsize=11)
        axes[0, column].set_xlabel("k (% pruned per hidden matrix)")
        axes[1, column].set_xscale("log")
        axes[1, column].set_xlabel("non-zero weights that still matter (log)")
    for axis in axes.ravel():
        axis.grid(True, alpha=0.35)
        axis.set_ylim(0.0, 0.95)
    for axis in axes[:, 0]:
        axis.set_ylabel("test accuracy (mean; band: min–max over seeds)")
    axes[1, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle("One-shot pruning at each width (Fashion-MNIST test set)", fontsize=12)
    fig.tight_layout()
    return png_bytes(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed table instead of writing the files")
    parser.add_argument("--record", nargs=2, metavar=("NAME", "HIDDEN"),
                        help="record one width first, e.g. width-lenet '[300,100]'")
    parser.add_argument("-S", "--set-param", dest="changes", action="append", default=[],
                        help="with --record: replace or add one study override, key=value "
                             "(repeatable), e.g. 'train.seeds=[0]'")
    parser.add_argument("--existing", action="store_true",
                        help="with --record: record DVC's experiment of that name, untimed")
    parser.add_argument("--force", action="store_true",
                        help="with --record: run every stage again (none from DVC's run-cache)")
    args = parser.parse_args(argv)
    root = Path.cwd()
    if (args.changes or args.existing or args.force) and not args.record:
        parser.error("-S, --existing and --force go with --record NAME HIDDEN")
    if args.record:
        name, hidden = args.record
        record_experiment.record(name, study_overrides(hidden, args.changes), root, [TARGET],
                                 args.existing, args.force)
    read = workspace_reader(root)
    text = table(read).encode()
    if args.check:
        committed = root / OUT / "study.md"
        if not committed.exists() or committed.read_bytes() != text:
            print(f"width_study: {OUT}/study.md is stale: run python tools/width_study.py")
            return 1
        return 0
    outputs = {root / OUT / "study.md": text, root / OUT / "study.png": figure(read)}
    for path, data in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"width_study: wrote {OUT}/study.md and study.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
