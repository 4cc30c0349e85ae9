"""How the kernels meet Triton: importing changes no process state, and the interpreter is an explicit choice."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

NO_TRITON_ON_IMPORT = """
import os, sys
import gptoss_edu, gptoss_edu.kernels, gptoss_edu.fast, gptoss_edu.fast.gpu, gptoss_edu.fast.gpu_decode
import gptoss_edu.model.flash, gptoss_edu.exercises.gpu
assert "triton" not in sys.modules, "importing gptoss_edu.kernels, the fast paths or the references imported Triton"
assert "TRITON_INTERPRET" not in os.environ
"""

INTERPRETER_AFTER_AN_EARLY_TRITON_IMPORT = """
import os, torch, triton  # torch._dynamo imports Triton early, in compiled mode
from gptoss_edu.kernels import use_interpreter
use_interpreter()
from gptoss_edu.kernels.rmsnorm import rms_norm, rms_norm_reference
x, scale = torch.randn(3, 40), torch.rand(40)
torch.testing.assert_close(rms_norm(x, scale), rms_norm_reference(x, scale))
"""

WITHOUT_TRITON = """
import sys
sys.modules["triton"] = None  # as if Triton were not installed: importing it raises ImportError
from gptoss_edu.exercises.gpu import check_merge_partials
from gptoss_edu.model.flash import attention_reference, merge_partials
import torch
def merge_by_hand(max_a, sum_a, acc_a, max_b, sum_b, acc_b):
    new_max = torch.maximum(max_a, max_b)
    scale_a, scale_b = torch.exp(max_a - new_max), torch.exp(max_b - new_max)
    return new_max, sum_a * scale_a + sum_b * scale_b, acc_a * scale_a[..., None] + acc_b * scale_b[..., None]
check_merge_partials(merge_by_hand)
from gptoss_edu.config import TINY
from gptoss_edu.fast import accelerate
from gptoss_edu.model.transformer import Transformer
report = accelerate(Transformer(TINY, device="meta").to_empty(device="cpu"), interpreter=True, notice=None)
assert not report.triton and "Triton is not installed" in report.fallbacks[0], report
"""

COMPILED_IMPORT_CHANGES_NOTHING = """
import os, triton.language as tl
before = tl.sum
import gptoss_edu.kernels.rmsnorm, gptoss_edu.kernels.attention, gptoss_edu.kernels.rope
assert "TRITON_INTERPRET" not in os.environ and tl.sum is before
from gptoss_edu.kernels import use_interpreter
try:
    use_interpreter()
except RuntimeError as problem:
    assert "use_interpreter() before importing" in str(problem), problem
else:
    raise AssertionError("switching to the interpreter after compiled kernels were defined must fail")
"""


def run_fresh(code: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # the tests' own choice stays here
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr


def test_importing_the_package_fast_paths_and_references_imports_no_triton():
    run_fresh(NO_TRITON_ON_IMPORT)


def test_the_references_the_checker_and_accelerate_work_without_triton():
    run_fresh(WITHOUT_TRITON)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the interpreter is for machines without CUDA")
def test_use_interpreter_works_after_an_early_triton_import():
    run_fresh(INTERPRETER_AFTER_AN_EARLY_TRITON_IMPORT)


def test_importing_kernel_modules_sets_no_environment_and_patches_nothing():
    run_fresh(COMPILED_IMPORT_CHANGES_NOTHING)
