"""``load_model(..., mmap=True)``: packed experts stay in the checkpoint files, the model is unchanged."""
from __future__ import annotations

import sys

import pytest
import torch

from gptoss_edu.config import TINY
from gptoss_edu.io.checkpoint import load_model
from gptoss_edu.model.generation import generate
from weights_tools.synthetic import write_checkpoint

CFG = TINY.replace(vocab_size=1024, sliding_window=128, initial_context_length=4096, name="test")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "original": write_checkpoint(root / "original", CFG, "original", seed=5),
        "hf": write_checkpoint(root / "hf", CFG, "hf", seed=5, shard_bytes=200_000),
    }


def file_mappings() -> list[tuple[int, int, str]]:
    """(start, end, path) of every file-backed mapping of this process (Linux)."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[5].endswith(".safetensors"):
                start, end = (int(a, 16) for a in fields[0].split("-"))
                out.append((start, end, fields[5]))
    return out


@pytest.mark.parametrize("layout", ["original", "hf"])
def test_mapped_model_equals_loaded_model(folders, layout):
    loaded = load_model(folders[layout], progress=False)
    mapped = load_model(folders[layout], progress=False, mmap=True)
    for (name, a), (_, b) in zip(loaded.state_dict().items(), mapped.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    prompt = list(range(7, 40))
    assert list(generate(mapped, prompt, 12, stop_tokens=())) == list(generate(loaded, prompt, 12, stop_tokens=()))


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/maps")
@pytest.mark.parametrize("layout", ["original", "hf"])
def test_packed_experts_live_in_the_files(folders, layout):
    mapped = load_model(folders[layout], progress=False, mmap=True)
    maps = file_mappings()
    packed = {name: t for name, t in mapped.state_dict().items() if name.endswith((".blocks", ".scales"))}
    assert len(packed) == 4 * CFG.num_hidden_layers
    for name, t in packed.items():
        address = t.data_ptr()
        assert any(start <= address < end for start, end, _ in maps), f"{name} is not backed by a checkpoint file"
    dense = mapped.block[0].attn.qkv.weight.data_ptr()
    assert not any(start <= dense < end for start, end, _ in maps)  # everything else is loaded as usual


def test_mapped_tensors_never_write_the_file(folders, tmp_path):
    mapped = load_model(folders["original"], progress=False, mmap=True)
    before = [p.read_bytes() for p in sorted(folders["original"].glob("*.safetensors"))]
    mapped.block[0].mlp.mlp1_weight.blocks.zero_()  # private copy-on-write: only this process sees it
    after = [p.read_bytes() for p in sorted(folders["original"].glob("*.safetensors"))]
    assert before == after


@pytest.mark.parametrize("kwargs", [{"experts": "dequantized"}, {"device": "meta"}])
def test_mmap_needs_packed_cpu(folders, kwargs):
    with pytest.raises(ValueError, match="mmap=True"):
        load_model(folders["original"], progress=False, mmap=True, **kwargs)
