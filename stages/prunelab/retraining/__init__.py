"""Retraining a pruned network: one-shot fine-tuning with the mask fixed, gradual pruning while
training, and the stage body both share."""
