"""How the kernels meet Triton: the package imports no Triton, and the interpreter works whatever imported Triton first."""
from __future__ import annotations

import os
import subprocess
import sys

import torch

FRESH_PROCESS = """
import os, sys
import gptoss_edu, gptoss_edu.kernels, gptoss_edu.fast.gpu, gptoss_edu.fast.gpu_decode
assert "triton" not in sys.modules, "importing gptoss_edu.kernels or the GPU path imported Triton"
if not {cuda}:
    # torch._dynamo imports Triton before our kernels can set TRITON_INTERPRET; they must still run.
    import torch, triton
    assert "TRITON_INTERPRET" not in os.environ
    from gptoss_edu.kernels.rmsnorm import rms_norm, rms_norm_reference
    x, scale = torch.randn(3, 40), torch.rand(40)
    torch.testing.assert_close(rms_norm(x, scale), rms_norm_reference(x, scale))
"""


def test_no_triton_on_import_and_interpreter_after_an_early_triton_import():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # our kernels may have set it here
    code = FRESH_PROCESS.format(cuda=torch.cuda.is_available())
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
