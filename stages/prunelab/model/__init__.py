"""Model and training: kernels as numpy (.npz, the forward pass), the Keras network, training and
fine-tuning."""
