"""The ``scratch`` section: unit pruning's compact widths trained from scratch, at these ks."""

from prunelab.schema.controls import control_section

SCRATCH = control_section("scratch")
