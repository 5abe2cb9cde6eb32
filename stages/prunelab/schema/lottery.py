"""The ``lottery`` section: lottery tickets and their re-initialised control, at these ks."""

from prunelab.schema.controls import control_section

LOTTERY = control_section("lottery")
