"""Routes run by TensorFlow, dense and sparse; TensorFlow is imported when one is prepared.

* ``tf``: a real Keras model (:func:`prunelab.speed.routes.keras_model.build_compact_keras`, i.e.
  ``build_mlp`` of the kernels' hidden widths plus the kernels, savable as ``.keras``) called
  inside one ``tf.function`` with a fixed input signature (no retracing per batch size).
  TensorFlow's ~0.1-0.4 ms per-call dispatch dominates small batches.
* ``tf-sparse``: ``tf.sparse.sparse_dense_matmul`` with COO ``W^T`` on the transposed
  activations (TensorFlow's own public sparse op; single-threaded and slow beyond small batches,
  measured honestly).
* ``tf-csr``: TensorFlow's CSR kernels (``SparseMatrixMatMul`` via the non-public
  ``tensorflow.python.ops.linalg.sparse`` helpers), CSR ``W^T`` times transposed activations.
  oneDNN's sparse matmul is opt-in with ``TF_ENABLE_ONEDNN_SPMM=1`` before TensorFlow is
  imported (about 2x faster at batch 1 here); the benchmark sets it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from prunelab.speed.routes.base import Kernels, Route, Runner, as_float32, check_batch


def _tf_runner(tf: Any, call: Any, inputs: int) -> Runner:
    """A runner feeding the batch to a ``tf.function`` of signature ``(None, inputs)``."""

    def run(batch: np.ndarray) -> np.ndarray:
        return call(tf.constant(check_batch(batch, inputs))).numpy()

    return run


def keras_runner(model: Any) -> Runner:
    """Run a Keras model's call (inference mode) inside one ``tf.function``, fixed signature."""
    import tensorflow as tf

    inputs = int(model.inputs[0].shape[-1])
    call = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, inputs], tf.float32)],
        autograph=False,
    )
    return _tf_runner(tf, call, inputs)


def prepare_tf(kernels: Kernels) -> Runner:
    """The Keras model of these kernels (``build_compact_keras``) in a ``tf.function``."""
    from prunelab.speed.routes.keras_model import build_compact_keras

    return keras_runner(build_compact_keras(kernels))


def _transposed_tf_chain(tf: Any, matmul: Callable[[Any, Any], Any], operands: list[Any],
                         inputs: int) -> Runner:
    """``tf.function`` running ``A^T <- relu(matmul(op_l, A^T))`` layer by layer."""

    def chain(x):
        activations = tf.transpose(x)
        for operand in operands[:-1]:
            activations = tf.nn.relu(matmul(operand, activations))
        return tf.transpose(matmul(operands[-1], activations))

    call = tf.function(chain, input_signature=[tf.TensorSpec([None, inputs], tf.float32)],
                       autograph=False)
    return _tf_runner(tf, call, inputs)


def prepare_tf_sparse(kernels: Kernels) -> Runner:
    """``tf.sparse.sparse_dense_matmul`` of COO ``W^T`` (int64 indices) and the activations^T."""
    import tensorflow as tf

    weights = as_float32(kernels)
    operands = []
    for kernel in weights:
        transposed = kernel.T
        positions = np.argwhere(transposed != 0).astype(np.int64)  # row-major = canonical order
        values = transposed[transposed != 0].astype(np.float32)
        operands.append(tf.SparseTensor(positions, values, transposed.shape))
    return _transposed_tf_chain(tf, tf.sparse.sparse_dense_matmul, operands, weights[0].shape[0])


def prepare_tf_csr(kernels: Kernels) -> Runner:
    """TensorFlow's CSR ``SparseMatrixMatMul`` of CSR ``W^T`` and the activations^T."""
    import tensorflow as tf
    from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops as csr_ops

    weights = as_float32(kernels)
    operands = [csr_ops.CSRSparseMatrix(tf.constant(np.ascontiguousarray(k.T))) for k in weights]
    return _transposed_tf_chain(tf, csr_ops.matmul, operands, weights[0].shape[0])


def onednn_spmm_enabled() -> bool:
    """Whether ``TF_ENABLE_ONEDNN_SPMM`` asks TensorFlow for oneDNN's sparse matmul."""
    return os.environ.get("TF_ENABLE_ONEDNN_SPMM", "0").lower() in ("1", "true")


TF = Route("tf", "tensorflow", "dense", prepare_tf,
           "Keras model (build_mlp of these shapes) called in a tf.function")
TF_CSR = Route("tf-csr", "tensorflow", "sparse", prepare_tf_csr,
               "TensorFlow CSR SparseMatrixMatMul of W^T (oneDNN SpMM if enabled)")
TF_SPARSE = Route("tf-sparse", "tensorflow", "sparse", prepare_tf_sparse,
                  "tf.sparse.sparse_dense_matmul of COO W^T")
