"""Ways to run the MLP's forward pass on a CPU -- dense, compact and sparse -- behind one interface.

Every route is a pair ``prepare(kernels) -> runner`` where ``kernels`` is the network as
:mod:`prunelab.model.weights` stores it (float32 ``(inputs, outputs)`` matrices, bias-free, ReLU
after every kernel but the last) and ``runner(batch)`` maps a float32 ``(n, inputs)`` array to
float32 ``(n, outputs)`` logits equal to :func:`prunelab.model.forward.forward` up to float32
rounding (the routes sum the same products in other orders).
:data:`prunelab.speed.routes.registry.ROUTES` holds them by name.

Routes take the kernels as given. Callers normally pass :func:`prunelab.speed.routes.base.compact`
of a pruned network first: it physically removes dead hidden units
(:func:`prunelab.model.structure.shrink`), which turns a unit-pruned network into a genuinely
smaller dense one and trims a weight-pruned one.

One module per runtime, each describing its routes: :mod:`~prunelab.speed.routes.blas` (numpy),
:mod:`~prunelab.speed.routes.tensorflow_ops`, :mod:`~prunelab.speed.routes.litert`,
:mod:`~prunelab.speed.routes.numba_fused` (its compiled kernels in
:mod:`~prunelab.speed.routes.numba_kernels`) and :mod:`~prunelab.speed.routes.scipy_csr`. The shared
pieces are in :mod:`~prunelab.speed.routes.base`, the Keras model of a compact network in
:mod:`~prunelab.speed.routes.keras_model` (which needs neither numba nor scipy), the table of routes
in :mod:`~prunelab.speed.routes.registry`.

This file imports nothing, so importing one module of the package loads only what that module
needs. TensorFlow and LiteRT are imported only when a route needing them is prepared.
"""
