"""Shared code of the pruning lab's pipeline stages (params, data, model, pruning core)."""
