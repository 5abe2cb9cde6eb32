"""Retraining a pruned network: one-shot fine-tuning with the mask fixed, gradual pruning while
training, the controls (scratch, lottery tickets), and the set-up and writing every retraining
stage does around its method (``stage_io``)."""
