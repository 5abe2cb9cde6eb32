"""The pruning core, numpy only: magnitude masks, reconstruction (least-squares refits), unit
selection."""
