"""The ``finetune`` section: one-shot pruning then retraining with the mask fixed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prunelab.wiring.names import PRUNE_METHODS, RECONSTRUCT_METHODS
from prunelab.wiring.params import Grid, Section, grid_fields, int_at_least, number_in


@dataclass(frozen=True)
class FinetuneParams(Grid):
    epochs: int
    batch_size: int
    learning_rate: float
    dropout: float


def _starts_are_made(raw: dict[str, Any]) -> list[str]:
    """One-shot fine-tuning starts from the one-shot model of the same method and k, so that
    model must be one the prune or reconstruct stage makes."""
    made = {method: set(raw[section]["ks"])
            for section in ("prune", "reconstruct") for method in raw[section]["methods"]}
    problems = []
    for method in raw["finetune"]["methods"]:
        section = "prune" if method in PRUNE_METHODS else "reconstruct"
        if method not in made:
            problems.append(
                f"'finetune.methods' has {method!r}, which {section}.methods does not make: "
                f"add it to {section}.methods or drop it from finetune.methods"
            )
            continue
        absent = sorted(set(raw["finetune"]["ks"]) - made[method])
        if absent:
            problems.append(
                f"'finetune.ks' has {absent}, which {section}.ks lacks for {method!r} "
                f"(fine-tuning starts from the one-shot model): add them to {section}.ks"
            )
    return problems


FINETUNE = Section("finetune", {
    **grid_fields(PRUNE_METHODS + RECONSTRUCT_METHODS),
    "epochs": int_at_least(1),
    "batch_size": int_at_least(1),
    "learning_rate": number_in(0, 1, low_open=True, high_open=False),
    "dropout": number_in(0, 1, low_open=False, high_open=True),
}, FinetuneParams, (_starts_are_made,))
