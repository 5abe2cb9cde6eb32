"""Statistics: sparsity and dead units, accuracy over seeds, evaluation, layer sensitivity, the
headline metrics."""
