"""Shared test set-up: keep TensorFlow quiet and single-machine friendly."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
