"""What the two control sections (``scratch``, ``lottery``) share: a list of ks, each a model
the prune stage makes for the control's method (:data:`prunelab.wiring.names.CONTROL_METHOD`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prunelab.wiring.names import CONTROL_METHOD
from prunelab.wiring.params import PERCENTAGE, CrossCheck, Section, unique_list


@dataclass(frozen=True)
class ControlParams:
    """The ks of a control; its method is fixed."""

    ks: tuple[int, ...]


def _starts_from_pruned_models(name: str) -> CrossCheck:
    """A control at k takes its architecture (scratch) or mask (lottery) from the prune stage's
    model of its method at k, so that model must be one the prune stage makes."""
    method = CONTROL_METHOD[name]

    def check(raw: dict[str, Any]) -> list[str]:
        ks = raw[name]["ks"]
        if ks and method not in raw["prune"]["methods"]:
            return [f"'{name}.ks' needs {method!r} in prune.methods (it starts from {method} "
                    f"pruning's models): add it, or set {name}.ks: []"]
        absent = sorted(set(ks) - set(raw["prune"]["ks"]))
        if absent:
            return [f"'{name}.ks' has {absent}, which prune.ks lacks (it starts from {method} "
                    "pruning's models): add them to prune.ks"]
        return []

    return check


def control_section(name: str) -> Section:
    """The section of the control ``name``: ``ks``, a possibly empty list of percentages."""
    return Section(name, {"ks": unique_list(PERCENTAGE, "percentages", may_be_empty=True)},
                   ControlParams, (_starts_from_pruned_models(name),))
