"""Triton kernels for gpt-oss, installed as ``gptoss_edu.kernels``.

Each module holds a Triton kernel, a plain-torch reference of the same function, and is
tested against it (on CPU with ``TRITON_INTERPRET=1``, on CUDA when present).
Importing this package does not import Triton; the kernel modules do.
"""
