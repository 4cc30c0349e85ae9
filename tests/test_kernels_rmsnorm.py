"""Fused RMSNorm kernel == torch reference == the library's ``rms_norm``."""
from __future__ import annotations

import pytest
import torch
from gptoss_edu.kernels.rmsnorm import rms_norm, rms_norm_reference

from gptoss_edu.model.norm import rms_norm as library_rms_norm

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.parametrize("shape", [(1, 64), (7, 2880 // 16), (2, 3, 100)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_kernel_matches_reference(shape, dtype):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(*shape, generator=g) * 3).to(DEVICE, dtype)
    scale = torch.rand(shape[-1], generator=g).to(DEVICE)
    got, want = rms_norm(x, scale), rms_norm_reference(x, scale)
    assert got.dtype == dtype and got.shape == x.shape
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(got.float(), want.float(), atol=tol, rtol=tol)


def test_reference_matches_library():
    g = torch.Generator().manual_seed(1)
    x, scale = torch.randn(5, 96, generator=g), torch.rand(96, generator=g)
    torch.testing.assert_close(rms_norm_reference(x, scale, 1e-5), library_rms_norm(x, scale, 1e-5))


def test_rejects_wrong_scale():
    with pytest.raises(ValueError, match="scale"):
        rms_norm(torch.zeros(2, 8, device=DEVICE), torch.ones(4, device=DEVICE))
