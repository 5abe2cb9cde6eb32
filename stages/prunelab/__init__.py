"""Shared code of the pruning lab's pipeline stages, one folder per concern: wiring, schema, data,
model, pruning, retraining, stats, speed and figures (the README's code-layout table)."""
