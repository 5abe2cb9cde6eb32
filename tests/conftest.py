"""Shared test set-up: keep TensorFlow quiet and single-machine friendly."""

import os

# The stages call prunelab.wiring.entry.prepare_tensorflow before they import TensorFlow, but tests
# import Keras directly (test_model, test_training, ...) and may do so before any stage runs in
# this process; setting the variable here, before collection, keeps those imports quiet too.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
