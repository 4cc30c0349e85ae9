"""``python -m weights_tools``: every command through the real command line, and every planted defect.

One subprocess per command proves the installed entry point works end to end; the many
defect cases call the same ``main(argv)`` in-process to keep the suite fast.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
import safetensors.torch
import torch

from gptoss_edu.config import TINY, parameter_count
from gptoss_edu.io.checkpoint import load_model, open_checkpoint
from gptoss_edu.io.writer import Source, write_layout
from weights_tools.__main__ import main
from weights_tools.synthetic import SyntheticSource, write_checkpoint

CFG = TINY.replace(vocab_size=1024, sliding_window=128, initial_context_length=4096, name="test")
SET = ["--set", "vocab_size=1024", "--set", "sliding_window=128", "--set", "initial_context_length=4096"]
SHARD = "150kB"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m weights_tools -q ...`` in a subprocess."""
    command, rest = args[0], args[1:]
    return subprocess.run([sys.executable, "-m", "weights_tools", command, "-q", *rest], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main([args[0], "-q", *args[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def synth_original(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "original"
    result = cli("synth", str(out), *SET, "--seed", "5", "--shard-bytes", SHARD)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def synth_hf(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("api") / "hf", CFG, "hf", seed=5, shard_bytes=150_000)


# ---- each command through the command line -------------------------------------------------------
COMMANDS = ("synth", "inspect", "verify", "convert", "bundle", "download")


def test_help_lists_every_command(capsys):
    result = subprocess.run([sys.executable, "-m", "weights_tools", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and all(c in result.stdout for c in COMMANDS)
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0 and f"usage: python -m weights_tools {command}" in capsys.readouterr().out


def test_synth_writes_a_sharded_verifiable_checkpoint(synth_original, capsys):
    names = sorted(p.name for p in synth_original.iterdir())
    assert "config.json" in names and "model.safetensors.index.json" in names
    assert len([n for n in names if n.endswith(".safetensors")]) > 1
    assert not list(synth_original.parent.glob(".*partial"))
    code, out, err = run_main(capsys, "verify", str(synth_original))
    assert code == 0 and out.strip().endswith("OK"), err


def test_synth_is_deterministic_and_layout_independent(synth_original, synth_hf):
    again = write_checkpoint(synth_original.parent / "again", CFG, "original", seed=5, shard_bytes=150_000)
    assert digests(again) == digests(synth_original)
    original, hf = open_checkpoint(synth_original), open_checkpoint(synth_hf)
    for name in original.spec:
        assert torch.equal(original.read(name), hf.read(name)), name


def test_inspect_json_totals_match_the_config(synth_original):
    result = cli("inspect", str(synth_original), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["layout"] == "original" and report["experts"] == "mxfp4"
    assert report["total"]["parameters"] == parameter_count(CFG)["total"]
    assert report["total"]["bytes"] == report["total"]["expected_bytes"]
    for component in report["components"].values():
        assert component["parameters"] == component["expected_parameters"]
    histogram = {int(k): v for k, v in report["scale_exponents"].items()}
    scale_bytes = sum(t["bytes"] for t in report["tensors"] if t["name"].endswith("scales"))
    assert sum(histogram.values()) == scale_bytes and set(histogram) <= set(range(-10, -2))


def test_inspect_table_groups_layers(synth_hf, capsys):
    code, out, _ = run_main(capsys, "inspect", str(synth_hf))
    assert code == 0
    assert "model.layers.*.self_attn.q_proj.weight" in out and "[experts]" in out and "2^-7" in out


def test_convert_round_trips_are_byte_identical(synth_original, tmp_path):
    hf, back = tmp_path / "hf", tmp_path / "back"
    result = cli("convert", str(synth_original), str(hf), "--to", "hf", "--shard-bytes", SHARD)
    assert result.returncode == 0, result.stderr
    assert run_main_quiet("convert", str(hf), str(back), "--to", "original", "--shard-bytes", SHARD) == 0
    assert digests(back) == digests(synth_original)
    again = tmp_path / "hf_again"
    assert run_main_quiet("convert", str(back), str(again), "--to", "hf", "--shard-bytes", SHARD) == 0
    assert digests(again) == digests(hf)


def test_convert_of_original_equals_synth_in_hf(synth_original, synth_hf, tmp_path):
    hf = tmp_path / "hf"
    assert run_main_quiet("convert", str(synth_original), str(hf), "--to", "hf", "--shard-bytes", "150000") == 0
    assert digests(hf) == digests(synth_hf)


def run_main_quiet(*args: str) -> int:
    return main([args[0], "-q", *args[1:]])


@pytest.mark.parametrize("layout", ["original", "hf"])
def test_convert_dequantize_loads_to_the_same_model(synth_original, tmp_path, layout):
    dense = tmp_path / "dense"
    assert run_main_quiet("convert", str(synth_original), str(dense), "--to", layout, "--dequantize") == 0
    ckpt = open_checkpoint(dense)
    assert ckpt.experts == "bf16" and not ckpt.problems
    ids = torch.arange(0, 1000, 7)
    with torch.no_grad():
        expected = load_model(synth_original, experts="dequantized", progress=False)(ids)
        assert torch.equal(load_model(dense, experts="dequantized", progress=False)(ids), expected)
    with pytest.raises(ValueError, match="experts='dequantized'"):
        load_model(dense, progress=False)


def test_bundle_then_load_by_environment(synth_original, tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    result = cli("bundle", str(bundle), str(synth_original), "--name", "tiny")
    assert result.returncode == 0, result.stderr
    assert (bundle / "vocab" / "o200k_base.tiktoken").is_file() and "GPTOSS_EDU_BUNDLE" in (bundle / "README.md").read_text()
    assert digests(bundle / "checkpoints" / "tiny") == digests(synth_original)
    import gptoss_edu
    from gptoss_edu.io.vocab import resolve_vocab

    monkeypatch.setenv("GPTOSS_EDU_BUNDLE", str(bundle))
    monkeypatch.delenv("GPTOSS_EDU_VOCAB", raising=False)
    assert resolve_vocab(download=False) == bundle / "vocab" / "o200k_base.tiktoken"
    ids = torch.arange(0, 1000, 9)
    with torch.no_grad():
        assert torch.equal(gptoss_edu.load_model("tiny", progress=False)(ids),
                           load_model(synth_original, progress=False)(ids))


def test_download_fails_fast_offline(tmp_path):
    result = cli("download", "gpt-oss-20b", "--out", str(tmp_path / "x"), env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1
    assert "HF_HUB_OFFLINE" in result.stderr and "copy the files in by hand" in result.stderr
    assert not (tmp_path / "x").exists()


def test_download_fails_fast_without_network(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    code, _, err = run_main(capsys, "download", "gpt-oss-120b", "--out", str(tmp_path / "x"), "--layout", "hf")
    assert code == 1 and "cannot reach 127.0.0.1:9" in err and "hf download openai/gpt-oss-120b" in err


# ---- bad input for every command ------------------------------------------------------------------------
def test_bad_paths_for_every_command(tmp_path, capsys, synth_original):
    missing = str(tmp_path / "missing")
    for argv in (["inspect", missing], ["verify", missing], ["convert", missing, str(tmp_path / "o"), "--to", "hf"],
                 ["bundle", str(tmp_path / "b"), missing], ["synth", str(tmp_path / "s"), "--config", missing]):
        code, out, err = run_main(capsys, *argv)
        assert code == 1 and "missing" in err, (argv, err)
    assert not any(p.name in ("o", "b", "s") for p in tmp_path.iterdir())
    code, _, err = run_main(capsys, "synth", str(synth_original))
    assert code == 1 and "exists and is not empty" in err


def test_verify_reports_the_truncated_file(synth_original, tmp_path):
    folder = shutil.copytree(synth_original, tmp_path / "t")
    shard = sorted(folder.glob("*.safetensors"))[-1]
    shard.write_bytes(shard.read_bytes()[:-10])
    result = cli("verify", str(folder))
    assert result.returncode == 1
    assert f"{shard}: truncated" in result.stderr and "unembedding.weight" in result.stderr


@pytest.mark.parametrize("command", ["inspect", "convert", "bundle"])
def test_other_commands_refuse_a_damaged_checkpoint(synth_original, tmp_path, capsys, command):
    folder = shutil.copytree(synth_original, tmp_path / "bad")
    first = sorted(folder.glob("*.safetensors"))[0]
    first.write_bytes(b"\xff" * 20)
    out = tmp_path / "out"
    argv = {"inspect": ["inspect", str(folder)], "convert": ["convert", str(folder), str(out), "--to", "hf"],
            "bundle": ["bundle", str(out), str(folder)]}[command]
    code, _, err = run_main(capsys, *argv)
    assert code == 1 and first.name in err and "header length" in err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_failure_mid_write_leaves_nothing_that_looks_complete(tmp_path):
    synthetic = SyntheticSource(CFG)

    def rows(name, row0, row1):
        if name == "unembedding.weight":
            raise OSError("disk full (simulated)")
        return synthetic.rows(name, row0, row1)

    with pytest.raises(OSError, match="disk full"):
        write_layout(tmp_path / "ckpt", CFG, "hf", Source(rows, synthetic.dtype))
    assert list(tmp_path.iterdir()) == []


# ---- verify catches each planted content defect --------------------------------------------------------
def _set(name, make):
    def plant(folder):
        index = json.loads((folder / "model.safetensors.index.json").read_text())
        file = folder / index["weight_map"][name]
        tensors = safetensors.torch.load_file(file)
        tensors[name] = make(tensors[name])
        safetensors.torch.save_file(tensors, file)
        return [file.name, name]

    return plant


def _with_nan(t):
    t = t.clone()
    t.view(-1)[3] = float("nan")
    return t


def _with_inf(t):
    t = t.clone()
    t.view(-1)[-1] = float("inf")
    return t


def _with_bad_scale(t):
    t = t.clone()
    t.view(-1)[:5] = 255
    return t


CONTENT_DEFECTS = {
    "nan": (_set("block.0.attn.qkv.weight", _with_nan), "1 NaN/Inf"),
    "inf": (_set("unembedding.weight", _with_inf), "1 NaN/Inf"),
    "scale 255": (_set("block.1.mlp.mlp2_weight.scales", _with_bad_scale), "5 scale bytes outside"),
    "wrong dtype": (_set("block.0.mlp.gate.bias", lambda t: t.to(torch.float16)), "expected bfloat16 or float32"),
    "wrong shape": (_set("block.1.attn.sinks", lambda t: t[:3].clone()), "expected [4]"),
    "blocks as int8": (_set("block.0.mlp.mlp1_weight.blocks", lambda t: t.view(torch.int8)), "expected uint8"),
}


@pytest.mark.parametrize("defect", CONTENT_DEFECTS)
def test_verify_catches_each_planted_defect(synth_original, tmp_path, capsys, defect):
    plant, message = CONTENT_DEFECTS[defect]
    folder = shutil.copytree(synth_original, tmp_path / "bad")
    names = plant(folder)
    code, out, err = run_main(capsys, "verify", str(folder))
    assert code == 1 and "1 problem(s)" in out
    assert message in err and all(n in err for n in names), err


def test_verify_catches_missing_shard_and_bad_index(synth_original, tmp_path, capsys):
    folder = shutil.copytree(synth_original, tmp_path / "bad")
    index_path = folder / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["block.0.attn.sinks"] = "model-00009-of-00009.safetensors"
    index_path.write_text(json.dumps(index))
    code, _, err = run_main(capsys, "verify", str(folder))
    assert code == 1 and "model-00009-of-00009.safetensors: missing shard" in err
    assert "'block.0.attn.sinks' is listed in model-00009-of-00009.safetensors but stored in" in err


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_nonfinite_bit_test_agrees_with_isfinite(dtype):
    from gptoss_edu.io.values import count_nonfinite

    values = torch.randn(4000, generator=torch.Generator().manual_seed(0)) * 1e4
    values[::7] = float("nan")
    values[::11] = float("inf")
    values[::13] = -float("inf")
    values[::17] = 1e-40  # subnormal in float32, zero in the narrower types: finite either way
    values = values.to(dtype)
    assert count_nonfinite(values) == int((~torch.isfinite(values)).sum()) > 0
