"""Fast paths that plug into the readable model: Triton kernel selection and CUDA-graph decoding.

- ``gpu``: whether the Triton kernels can run here, swapping them into a model, GPU memory budgets.
- ``gpu_decode``: a decode step with its position on the device, captured and replayed as a CUDA graph.

The kernels themselves live in ``gptoss_edu.kernels`` (the repository's ``kernels/`` folder).
"""
