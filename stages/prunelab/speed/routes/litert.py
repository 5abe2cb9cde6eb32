"""Routes run by LiteRT (TensorFlow Lite); TensorFlow and LiteRT are imported when prepared.

* ``litert``: the network converted to a LiteRT flatbuffer and run by ``ai_edge_litert``'s
  interpreter (XNNPACK) with one thread (two were erratic on two vCPUs). Very light per call,
  so it shines at batch 1 on small models.
* ``litert-sparse``: LiteRT with ``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``. LiteRT only runs a
  truly sparse FULLY_CONNECTED kernel when the pattern is sparse enough (random patterns: ~99 %);
  otherwise it densifies at load (a size win only). Hidden widths are zero-padded to a multiple
  of 4 first: with shrunk widths such as 521 or 326 the sparse kernel of ai-edge-litert 2.3.0
  returned wrong logits for some inputs (errors up to ~0.6 on one layer; checked here).
"""

from __future__ import annotations

import numpy as np

from prunelab.speed.routes.base import Kernels, Route, Runner, as_float32, check_batch

#: Hidden widths are padded to a multiple of this for ``litert-sparse`` (see module docstring).
LITERT_SPARSE_WIDTH_MULTIPLE = 4


def litert_flatbuffer(kernels: Kernels, sparse: bool = False) -> bytes:
    """Convert the network (weights as constants) to a LiteRT flatbuffer.

    ``sparse=True`` asks the converter to store sparse weights
    (``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``); pass widths that are multiples of
    :data:`LITERT_SPARSE_WIDTH_MULTIPLE` (see :func:`pad_hidden_widths`).
    """
    import tensorflow as tf

    weights = as_float32(kernels)
    constants = [tf.constant(k) for k in weights]

    def chain(x):
        activations = x
        for constant in constants[:-1]:
            activations = tf.nn.relu(tf.matmul(activations, constant))
        return tf.matmul(activations, constants[-1])

    function = tf.function(chain, autograph=False,
                           input_signature=[tf.TensorSpec([None, weights[0].shape[0]], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()])
    if sparse:
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return converter.convert()


def litert_runner(flatbuffer: bytes, threads: int = 1) -> Runner:
    """Run a LiteRT flatbuffer; the input is resized (and tensors reallocated) when n changes."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
    input_detail = interpreter.get_input_details()[0]
    input_index = input_detail["index"]
    inputs = int(input_detail["shape_signature"][-1])
    output_index = interpreter.get_output_details()[0]["index"]
    allocated = [-1]

    def run(batch: np.ndarray) -> np.ndarray:
        batch = check_batch(batch, inputs)
        if batch.shape[0] != allocated[0]:
            interpreter.resize_tensor_input(input_index, batch.shape)
            interpreter.allocate_tensors()
            allocated[0] = batch.shape[0]
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    return run


def pad_hidden_widths(kernels: Kernels, multiple: int) -> Kernels:
    """Zero-pad every hidden width up to a multiple of ``multiple`` (the logits are unchanged).

    The added units read nothing and are read by nothing, so they always output zero.
    """
    padded = as_float32(kernels)
    for layer in range(len(padded) - 1):
        extra = (-padded[layer].shape[1]) % multiple
        if extra:
            padded[layer] = np.pad(padded[layer], ((0, 0), (0, extra)))
            padded[layer + 1] = np.pad(padded[layer + 1], ((0, extra), (0, 0)))
    return padded


def prepare_litert(kernels: Kernels) -> Runner:
    """Dense LiteRT (XNNPACK), one thread."""
    return litert_runner(litert_flatbuffer(kernels), threads=1)


def prepare_litert_sparse(kernels: Kernels) -> Runner:
    """LiteRT with sparse weights (EXPERIMENTAL_SPARSITY), widths padded to a multiple of 4."""
    padded = pad_hidden_widths(kernels, LITERT_SPARSE_WIDTH_MULTIPLE)
    return litert_runner(litert_flatbuffer(padded, sparse=True), threads=1)


LITERT = Route("litert", "litert", "dense", prepare_litert, "LiteRT flatbuffer, XNNPACK, 1 thread")
LITERT_SPARSE = Route("litert-sparse", "litert", "sparse", prepare_litert_sparse,
                      "LiteRT EXPERIMENTAL_SPARSITY, widths padded to a multiple of 4, 1 thread")
