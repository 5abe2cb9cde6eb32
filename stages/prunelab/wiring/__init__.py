"""Wiring: the generic params loader (each section's schema lives in ``prunelab.schema``), the
stage prologue, error types, method names, data paths and all-or-nothing writes. Every stage
imports this folder; it imports no other folder."""
