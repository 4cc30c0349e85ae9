"""gptoss_edu.io.checkpoint: layouts, the safetensors reader, validation, layout detection and load_model."""
from __future__ import annotations

import json
import shutil
import struct

import pytest
import safetensors.torch
import torch

from gptoss_edu.config import GPT_OSS_20B, GPT_OSS_120B, TINY, parameter_count
from gptoss_edu.io.checkpoint import CheckpointError, find_checkpoint, load_model, open_checkpoint, read_rows
from gptoss_edu.io.layouts import checkpoint_spec, hf_spec
from gptoss_edu.io.safetensors_io import SafetensorsFormatError, read_header
from gptoss_edu.model.transformer import Transformer
from weights_tools.synthetic import write_checkpoint

# Small widths, the real 128-token window and YaRN over 4096 tokens, a short vocabulary.
CFG = TINY.replace(vocab_size=1024, sliding_window=128, initial_context_length=4096, name="test")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "original": write_checkpoint(root / "original", CFG, "original", seed=3),
        "hf": write_checkpoint(root / "hf", CFG, "hf", seed=3, shard_bytes=200_000),
    }


def copy(folder, tmp_path):
    return shutil.copytree(folder, tmp_path / folder.name)


def rewrite(file, change):
    """Load a safetensors file with the official library, apply ``change`` to the dict, save it back."""
    tensors = safetensors.torch.load_file(file)
    change(tensors)
    safetensors.torch.save_file(tensors, file)


# ---- the spec and the layouts ---------------------------------------------------------------
@pytest.mark.parametrize("config", [CFG, GPT_OSS_20B, GPT_OSS_120B], ids=lambda c: c.name)
def test_spec_is_the_model_state_dict(config):
    model = Transformer(config, device="meta")
    assert set(model.state_dict()) == set(checkpoint_spec(config))
    for name, tensor in model.state_dict().items():
        assert tuple(tensor.shape) == checkpoint_spec(config)[name].shape, name


def test_dequantized_spec_is_the_dequantized_model_state_dict():
    model = Transformer(CFG, device="meta", experts="dequantized")
    spec = checkpoint_spec(CFG, "bf16")
    assert {n: tuple(t.shape) for n, t in model.state_dict().items()} == {n: s.shape for n, s in spec.items()}


@pytest.mark.parametrize("config", [GPT_OSS_20B, GPT_OSS_120B], ids=lambda c: c.name)
def test_spec_counts_the_model_card_parameters(config):
    spec = checkpoint_spec(config)
    params = sum(2 * s.numel if n.endswith("blocks") else 0 if n.endswith("scales") else s.numel
                 for n, s in spec.items())
    assert params == parameter_count(config)["total"]


def test_hf_spec_matches_transformers_parameter_shapes():
    """Dense names and shapes of the HF layout are those of GptOssForCausalLM; experts as its mxfp4 loader reads."""
    from transformers import GptOssConfig, GptOssForCausalLM

    from gptoss_edu.io.writer import config_json

    hf_config = GptOssConfig(**config_json(CFG, "hf", "mxfp4"))
    with torch.device("meta"):
        model = GptOssForCausalLM(hf_config)
    theirs = {n: tuple(p.shape) for n, p in model.state_dict().items()}
    ours = {n: s.shape for n, s in hf_spec(CFG, "bf16").items()}
    assert ours == theirs  # dequantized experts: gate_up_proj (E, H, 2I), down_proj (E, I, H)
    packed = hf_spec(CFG)
    E, I, H = CFG.num_experts, CFG.intermediate_size, CFG.hidden_size
    assert packed["model.layers.0.mlp.experts.gate_up_proj_blocks"].shape == (E, 2 * I, H // 32, 16)
    assert packed["model.layers.0.mlp.experts.down_proj_blocks"].shape == (E, H, I // 32, 16)
    assert packed["model.layers.0.mlp.experts.down_proj_scales"].shape == (E, H, I // 32)


# ---- the reader against the official safetensors library ----------------------------------
def test_reader_matches_safetensors_library(folders):
    for folder in folders.values():
        ckpt = open_checkpoint(folder)
        for file in {t.file for t in ckpt.stored.values()}:
            for name, tensor in safetensors.torch.load_file(file).items():
                stored = ckpt.stored[name]
                assert torch.equal(read_rows(stored, 0, tensor.shape[0]), tensor), name
                assert torch.equal(read_rows(stored, 1, 3), tensor[1:3]), name


def test_both_layouts_hold_the_same_tensors(folders):
    original, hf = open_checkpoint(folders["original"]), open_checkpoint(folders["hf"])
    assert (original.layout, hf.layout) == ("original", "hf")
    for name in original.spec:
        assert torch.equal(original.read(name), hf.read(name)), name
    q = hf.read("block.1.attn.qkv.weight", CFG.q_dim, CFG.q_dim + CFG.kv_dim)  # rows of k_proj
    k_proj = safetensors.torch.load_file(hf.stored["model.layers.1.self_attn.k_proj.weight"].file)
    assert torch.equal(q, k_proj["model.layers.1.self_attn.k_proj.weight"])


def test_written_files_load_with_the_safetensors_library(folders):
    ckpt = open_checkpoint(folders["hf"])
    files = {t.file for t in ckpt.stored.values()}
    assert len(files) > 1 and (folders["hf"] / "model.safetensors.index.json").is_file()
    loaded = {}
    for file in files:
        loaded |= safetensors.torch.load_file(file)
    assert set(loaded) == set(hf_spec(CFG))


# ---- layout detection and the bundle ---------------------------------------------------------
def test_hub_style_folder_prefers_original(folders, tmp_path):
    hub = copy(folders["hf"], tmp_path)
    shutil.copytree(folders["original"], hub / "original")
    assert find_checkpoint(hub) == (hub / "original", "original")
    assert find_checkpoint(hub, layout="hf") == (hub, "hf")


def test_bundle_names_and_default(folders, tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    shutil.copytree(folders["original"], bundle / "checkpoints" / "tiny-test")
    monkeypatch.setenv("GPTOSS_EDU_BUNDLE", str(bundle))
    assert find_checkpoint()[0] == bundle / "checkpoints" / "tiny-test"
    assert find_checkpoint("tiny-test")[0] == bundle / "checkpoints" / "tiny-test"
    shutil.copytree(folders["hf"], bundle / "checkpoints" / "other")
    with pytest.raises(CheckpointError, match="other.*tiny-test"):
        find_checkpoint()


def test_missing_path_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere: no such checkpoint folder"):
        open_checkpoint(tmp_path / "nowhere")


# ---- every defect is an error naming file and tensor ----------------------------------------------
def _truncate(folder):
    file = next(folder.glob("*.safetensors"))
    data = file.read_bytes()
    file.write_bytes(data[:-100])
    return [file.name, "truncated", "unembedding.weight"]


def _corrupt_header(folder):
    file = next(folder.glob("*.safetensors"))
    data = bytearray(file.read_bytes())
    data[8:20] = b"not json !!!"
    file.write_bytes(bytes(data))
    return [file.name, "header is corrupt"]


def _huge_header_length(folder):
    file = next(folder.glob("*.safetensors"))
    data = bytearray(file.read_bytes())
    data[:8] = struct.pack("<Q", 10**12)
    file.write_bytes(bytes(data))
    return [file.name, "header length"]


def _wrong_dtype(folder):
    file = next(folder.glob("*.safetensors"))
    rewrite(file, lambda d: d.update({"block.0.attn.sinks": d["block.0.attn.sinks"].half()}))
    return [file.name, "block.0.attn.sinks", "float16", "expected bfloat16 or float32"]


def _wrong_shape(folder):
    file = next(folder.glob("*.safetensors"))
    rewrite(file, lambda d: d.update({"block.1.mlp.gate.weight": d["block.1.mlp.gate.weight"][:, :32].clone()}))
    return [file.name, "block.1.mlp.gate.weight", "[8, 32]", "expected [8, 64]"]


def _missing_tensor(folder):
    file = next(folder.glob("*.safetensors"))
    rewrite(file, lambda d: d.pop("block.1.mlp.mlp2_weight.scales"))
    return ["block.1.mlp.mlp2_weight.scales", "missing", "uint8 [8, 64, 2]"]


def _unexpected_tensor(folder):
    file = next(folder.glob("*.safetensors"))
    rewrite(file, lambda d: d.update({"block.7.attn.extra": torch.zeros(3)}))
    return [file.name, "unexpected tensor 'block.7.attn.extra'"]


def _missing_shard(folder):
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    file = index["weight_map"]["lm_head.weight"]
    (folder / file).unlink()
    return [file, "missing shard", "lm_head.weight"]


def _index_inconsistent(folder):
    path = folder / "model.safetensors.index.json"
    index = json.loads(path.read_text())
    files = sorted(set(index["weight_map"].values()))
    wrong = files[0] if index["weight_map"]["model.norm.weight"] != files[0] else files[1]
    index["weight_map"]["model.norm.weight"] = wrong
    path.write_text(json.dumps(index))
    return ["model.norm.weight", f"listed in {wrong}"]


DEFECTS = {
    "truncated": ("original", _truncate), "corrupt header": ("original", _corrupt_header),
    "huge header length": ("original", _huge_header_length), "wrong dtype": ("original", _wrong_dtype),
    "wrong shape": ("original", _wrong_shape), "missing tensor": ("original", _missing_tensor),
    "unexpected tensor": ("original", _unexpected_tensor), "missing shard": ("hf", _missing_shard),
    "index inconsistent": ("hf", _index_inconsistent),
}


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_defect_raises_checkpoint_error_naming_it(folders, tmp_path, defect):
    layout, plant = DEFECTS[defect]
    folder = copy(folders[layout], tmp_path)
    expected = plant(folder)
    with pytest.raises(CheckpointError) as caught:
        load_model(folder, progress=False)
    assert isinstance(caught.value, ValueError)
    for fragment in expected:
        assert fragment in str(caught.value), (fragment, str(caught.value))


def test_read_header_rejects_gaps(tmp_path):
    file = tmp_path / "gap.safetensors"
    header = json.dumps({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                         "b": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]}}).encode()
    file.write_bytes(struct.pack("<Q", len(header)) + header + bytes(6))
    with pytest.raises(SafetensorsFormatError, match="'b' starts at byte"):
        read_header(file)


def test_float32_floating_tensors_are_accepted(folders, tmp_path):
    folder = copy(folders["original"], tmp_path)
    rewrite(next(folder.glob("*.safetensors")), lambda d: d.update({"norm.scale": d["norm.scale"].float()}))
    assert open_checkpoint(folder).dtype_of("norm.scale") == torch.float32


# ---- load_model -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ids():
    return torch.randint(0, CFG.vocab_size, (160,), generator=torch.Generator().manual_seed(0))


def test_both_layouts_give_identical_logits(folders, ids):
    with torch.no_grad():
        original = load_model(folders["original"], progress=False)(ids)
        hf = load_model(folders["hf"], progress=False)(ids)
    assert original.shape == (len(ids), CFG.vocab_size)
    assert torch.equal(original, hf)


def test_dequantized_model_matches_packed(folders, ids):
    with torch.no_grad():
        packed = load_model(folders["hf"], progress=False)(ids)
        dense = load_model(folders["hf"], experts="dequantized", progress=False)
    assert dense.block[0].mlp.mlp1_weight.dtype == torch.float32
    with torch.no_grad():
        assert torch.allclose(dense(ids), packed, rtol=1e-5, atol=1e-6)


def test_load_model_from_bundle(folders, tmp_path, monkeypatch, ids):
    bundle = tmp_path / "bundle"
    shutil.copytree(folders["original"], bundle / "checkpoints" / "tiny-test")
    monkeypatch.setenv("GPTOSS_EDU_BUNDLE", str(bundle))
    import gptoss_edu

    with torch.no_grad():
        assert torch.equal(gptoss_edu.load_model(progress=False)(ids), load_model(folders["original"], progress=False)(ids))


def test_loaded_model_is_for_inference(folders, ids):
    model = load_model(folders["original"], progress=False)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert not model(ids[:8]).requires_grad  # no autograd graph holding decoded experts
