"""Attacks on the checkpoint readers: folders from strangers, each built here in tmp_path.

Each test asserts on what an attacker would get: a hang (FIFO shards run in a subprocess
with a timeout), a file outside the folder read or touched, memory allocated for a config
before it is checked, a raw traceback instead of one clear line, or a NaN model loaded
without a word. Every malformed folder must give ``CheckpointError`` from ``load_model`` and
exit status 1 with a one-line message from ``python -m weights_tools verify|inspect|convert``.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import tracemalloc

import pytest
import safetensors.torch
import torch

from gptoss_edu.config import TINY
from gptoss_edu.io.checkpoint import CheckpointError, load_model, open_checkpoint
from weights_tools.__main__ import main
from weights_tools.synthetic import write_checkpoint

CFG = TINY.replace(vocab_size=1024, sliding_window=128, initial_context_length=4096, name="test")
COMMANDS = ("verify", "inspect", "convert")
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    root = tmp_path_factory.mktemp("sound")
    return {"original": write_checkpoint(root / "original", CFG, "original", seed=1),
            "hf": write_checkpoint(root / "hf", CFG, "hf", seed=1, shard_bytes=200_000)}


def copy(folder, tmp_path, name="ckpt"):
    return shutil.copytree(folder, tmp_path / name)


def within(seconds, fn, *args):
    """``fn(*args)`` in a thread; fail the test (instead of hanging the suite) if it takes longer."""
    result = {}

    def run():
        try:
            result["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 -- handed back to the test below
            result["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} still running after {seconds} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


def cli_in_process(capsys, command, folder, tmp_path):
    argv = [command, "-q", str(folder)]
    if command == "convert":
        argv += [str(tmp_path / "converted"), "--to", "hf"]
    code = within(120, main, argv)
    out, err = capsys.readouterr()
    return code, err


def assert_refused(capsys, folder, tmp_path, *fragments):
    """load_model raises CheckpointError naming the culprit; each CLI command exits 1 with one clean line."""
    with pytest.raises(CheckpointError) as caught:
        within(120, load_model, folder, "cpu", torch.float32, "packed", False)
    for fragment in fragments:
        assert fragment in str(caught.value), (fragment, str(caught.value))
    for command in COMMANDS:
        code, err = cli_in_process(capsys, command, folder, tmp_path)
        lines = err.strip().splitlines()
        assert code == 1 and "Traceback" not in err, (command, err)
        assert len(lines) == 1 and all(f in lines[0] for f in fragments), (command, err)
    assert not (tmp_path / "converted").exists()


def set_config(folder, **changes):
    path = folder / "config.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def write_raw_config(folder, text):
    (folder / "config.json").write_text(text)


# ---- config.json, field by field -----------------------------------------------------------------
CONFIG_ATTACKS = {
    "zero kv heads": ({"num_key_value_heads": 0}, "num_key_value_heads"),
    "rope_scaling a string": ({"rope_scaling": "yarn"}, "rope_scaling"),
    "float hidden_size": ({"hidden_size": 64.0}, "hidden_size"),
    "bool layers": ({"num_hidden_layers": True}, "num_hidden_layers"),
    "string vocab": ({"vocab_size": "1024"}, "vocab_size"),
    "negative experts": ({"num_local_experts": -8}, "num_local_experts"),
    "heads not divisible": ({"num_attention_heads": 3}, "num_attention_heads"),
    "NaN theta": ({"rope_theta": float("nan")}, "rope_theta"),
    "huge vocabulary": ({"vocab_size": 10**12}, "vocab_size"),
    "missing layers": ({"num_hidden_layers": None}, "num_hidden_layers"),
}


@pytest.mark.parametrize("attack", CONFIG_ATTACKS)
def test_bad_hf_config_field_is_named(sound, tmp_path, capsys, attack):
    changes, field = CONFIG_ATTACKS[attack]
    folder = copy(sound["hf"], tmp_path)
    set_config(folder, **changes)
    if changes == {"num_hidden_layers": None}:
        data = json.loads((folder / "config.json").read_text())
        del data["num_hidden_layers"]
        write_raw_config(folder, json.dumps(data))
    assert_refused(capsys, folder, tmp_path, "config.json", field)


@pytest.mark.parametrize("layers", [10**5, 10**6])
def test_absurd_layer_counts_fail_before_allocating(sound, tmp_path, capsys, layers):
    folder = copy(sound["original"], tmp_path)
    set_config(folder, num_hidden_layers=layers)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="num_hidden_layers: must be between 1 and 1024"):
            within(60, open_checkpoint, folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20  # a spec for 10^5 layers alone would take hundreds of MB
    assert_refused(capsys, folder, tmp_path, "num_hidden_layers")


@pytest.mark.parametrize("text, fragment", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"a": ' * 50 + "1" + "}" * 50, "nested more than 32"),
    ('{"num_hidden_layers": ' + "9" * 5000 + "}", "not a valid"),
    ("[1, 2, 3]", "expected a JSON object"),
    ('{"rope_theta": Infinity}', "rope_theta"),
    ("not json", "not a valid"),
], ids=["deep list", "deep object", "5000 digits", "a list", "infinity", "garbage"])
def test_malformed_config_json_is_named(sound, tmp_path, capsys, text, fragment):
    folder = copy(sound["original"], tmp_path)
    write_raw_config(folder, text)
    assert_refused(capsys, folder, tmp_path, "config.json", fragment)


def test_oversized_config_json_is_refused_unread(sound, tmp_path, capsys):
    folder = copy(sound["original"], tmp_path)
    with open(folder / "config.json", "r+b") as f:
        f.truncate(8 * 2**30)  # sparse: 8 GiB that cost nothing on disk, and must not be read
    assert_refused(capsys, folder, tmp_path, "config.json", "too large")


# ---- the index and the shards ---------------------------------------------------------------------
def set_index_value(folder, value):
    path = folder / "model.safetensors.index.json"
    index = json.loads(path.read_text())
    index["weight_map"]["model.norm.weight"] = value
    path.write_text(json.dumps(index))


@pytest.mark.parametrize("value", [5, ["model-00001-of-00002.safetensors"], None, {"file": "x"}],
                         ids=["number", "list", "null", "object"])
def test_index_values_must_be_strings(sound, tmp_path, capsys, value):
    folder = copy(sound["hf"], tmp_path)
    set_index_value(folder, value)
    assert_refused(capsys, folder, tmp_path, "model.safetensors.index.json", "model.norm.weight", "not a file name")


@pytest.mark.parametrize("name", ["/dev/zero", "../outside.safetensors", "sub/../../outside.safetensors",
                                  "C:evil.safetensors"])
def test_index_cannot_name_files_outside(sound, tmp_path, capsys, name):
    outside = tmp_path / "outside.safetensors"
    shutil.copyfile(next(sound["original"].glob("*.safetensors")), outside)
    before = outside.stat()
    folder = copy(sound["hf"], tmp_path)
    set_index_value(folder, name)
    assert_refused(capsys, folder, tmp_path, name, "not a plain name")
    after = outside.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_shard_linking_outside_is_refused(sound, tmp_path, capsys):
    folder = copy(sound["original"], tmp_path)
    shard = next(folder.glob("*.safetensors"))
    outside = shutil.move(shard, tmp_path / "elsewhere.safetensors")
    shard.symlink_to(outside)
    assert_refused(capsys, folder, tmp_path, shard.name, "outside the folder")


def test_shard_linking_to_a_device_is_refused(sound, tmp_path, capsys):
    folder = copy(sound["original"], tmp_path)
    shard = next(folder.glob("*.safetensors"))
    shard.unlink()
    shard.symlink_to("/dev/zero")
    assert_refused(capsys, folder, tmp_path, shard.name)


def test_shard_linking_inside_is_followed(sound, tmp_path):
    folder = copy(sound["original"], tmp_path)
    shard = next(folder.glob("*.safetensors"))
    (folder / "data").mkdir()
    shutil.move(shard, folder / "data" / "real.bin")
    shard.symlink_to(folder / "data" / "real.bin")
    assert not open_checkpoint(folder).problems


def test_hugging_face_cache_snapshot_links_are_followed(sound, tmp_path):
    """``snapshot_download`` without ``local_dir`` links each file to ``../../blobs/<hash>``: that is allowed."""
    repo = tmp_path / "hub" / "models--openai--tiny"
    snapshot, blobs = repo / "snapshots" / "0123abc", repo / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    for i, file in enumerate(sorted(sound["hf"].iterdir())):
        shutil.copyfile(file, blobs / f"blob{i}")
        (snapshot / file.name).symlink_to(os.path.relpath(blobs / f"blob{i}", snapshot))
    ckpt = open_checkpoint(snapshot)
    assert not ckpt.problems and ckpt.layout == "hf"


@needs_fifo
def test_a_shard_swapped_for_a_fifo_after_opening_is_refused(sound, tmp_path):
    folder = copy(sound["original"], tmp_path)
    ckpt = open_checkpoint(folder)
    shard = next(folder.glob("*.safetensors"))
    shard.unlink()
    os.mkfifo(shard)
    with pytest.raises(CheckpointError, match="named pipe"):
        within(60, ckpt.read, "norm.scale")


def test_original_subfolder_linking_outside_is_refused(sound, tmp_path):
    hub = copy(sound["hf"], tmp_path, "hub")
    (hub / "original").symlink_to(sound["original"])
    with pytest.raises(CheckpointError, match="outside"):
        open_checkpoint(hub)


HEADER_ATTACKS = {
    "float shape": ({"dtype": "U8", "shape": [2.0], "data_offsets": [0, 2]}, "malformed header entry"),
    "bool shape": ({"dtype": "U8", "shape": [True, 2], "data_offsets": [0, 2]}, "malformed header entry"),
    "negative offset": ({"dtype": "U8", "shape": [2], "data_offsets": [-2, 0]}, "malformed header entry"),
    "4000-digit offset": ({"dtype": "U8", "shape": [2], "data_offsets": [0, 10**3999]}, "malformed header entry"),
    "huge dimensions": ({"dtype": "U8", "shape": [2**62] * 8, "data_offsets": [0, 2]}, "needs"),
    "string dtype": ({"dtype": 7, "shape": [2], "data_offsets": [0, 2]}, "malformed header entry"),
    "50 dimensions": ({"dtype": "U8", "shape": [1] * 50, "data_offsets": [0, 1]}, "malformed header entry"),
}


def write_header_file(path, header_text, data=b"\0\0"):
    raw = header_text.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


@pytest.mark.parametrize("attack", HEADER_ATTACKS)
def test_hostile_safetensors_header_names_the_file(sound, tmp_path, capsys, attack):
    entry, fragment = HEADER_ATTACKS[attack]
    folder = copy(sound["original"], tmp_path)
    write_header_file(folder / "zz-extra.safetensors", json.dumps({"x": entry}))
    assert_refused(capsys, folder, tmp_path, "zz-extra.safetensors", fragment)


@pytest.mark.parametrize("header, fragment", [
    ('{"x": {"dtype": "U8", "shape": [2], "data_offsets": [0, ' + "9" * 5000 + "]}}", "header is corrupt"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
], ids=["5000-digit offset", "deep header"])
def test_unparseable_header_names_the_file(sound, tmp_path, capsys, header, fragment):
    folder = copy(sound["original"], tmp_path)
    write_header_file(folder / "zz-extra.safetensors", header)
    assert_refused(capsys, folder, tmp_path, "zz-extra.safetensors", fragment)


# ---- FIFOs: run in a subprocess, so a hang is a timeout rather than a stuck suite --------------------
def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "weights_tools", args[0], "-q", *args[1:]], capture_output=True,
                          text=True, timeout=timeout)


def run_load_model(folder, timeout=120):
    code = ("import sys\nfrom gptoss_edu.io.checkpoint import CheckpointError, load_model\n"
            f"try:\n    load_model({str(folder)!r}, progress=False)\n"
            "except CheckpointError as e:\n    print(e, file=sys.stderr); sys.exit(3)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


def fifo_shard(folder):
    shard = next(folder.glob("*.safetensors"))
    shard.unlink()
    os.mkfifo(shard)
    return shard.name


def fifo_named_by_index(folder):
    os.mkfifo(folder / "pipe.safetensors")
    set_index_value(folder, "pipe.safetensors")
    return "pipe.safetensors"


def link_to_outside_fifo(folder):
    pipe = folder.parent / "outside-pipe"
    os.mkfifo(pipe)
    shard = next(folder.glob("*.safetensors"))
    shard.unlink()
    shard.symlink_to(pipe)
    return shard.name


def fifo_config(folder):
    (folder / "config.json").unlink()
    os.mkfifo(folder / "config.json")
    return "config.json"


FIFO_ATTACKS = {"shard": ("original", fifo_shard), "index entry": ("hf", fifo_named_by_index),
                "link to a FIFO": ("original", link_to_outside_fifo), "config.json": ("original", fifo_config)}


@needs_fifo
@pytest.mark.parametrize("attack", FIFO_ATTACKS)
def test_fifos_are_refused_without_hanging(sound, tmp_path, attack):
    layout, plant = FIFO_ATTACKS[attack]
    folder = copy(sound[layout], tmp_path)
    culprit = plant(folder)
    loaded = run_load_model(folder)
    assert loaded.returncode == 3 and culprit in loaded.stderr and "Traceback" not in loaded.stderr, loaded.stderr
    for command in ("verify", "inspect"):
        result = run_cli(command, str(folder))
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert culprit in result.stderr and ("named pipe" in result.stderr or "outside" in result.stderr)


# ---- values checked while loading ---------------------------------------------------------------------
def plant(folder, name, change):
    file = next(f for f in folder.glob("*.safetensors") if name in safetensors.torch.load_file(f))
    tensors = safetensors.torch.load_file(file)
    tensors[name] = change(tensors[name].clone())
    safetensors.torch.save_file(tensors, file)
    return file.name


def with_nan(t):
    t.view(-1)[7] = float("nan")
    return t


def with_inf(t):
    t.view(-1)[0] = -float("inf")
    return t


def with_scale(byte):
    def change(t):
        t.view(-1)[3] = byte
        return t

    return change


VALUE_ATTACKS = {
    "NaN weight": ("block.0.attn.qkv.weight", with_nan, "NaN/Inf"),
    "-Inf unembedding": ("unembedding.weight", with_inf, "NaN/Inf"),
    "scale byte 255 (E8M0 NaN)": ("block.1.mlp.mlp1_weight.scales", with_scale(255), "scale byte"),
    "scale byte 253 (overflows)": ("block.0.mlp.mlp2_weight.scales", with_scale(253), "scale byte"),
}


@pytest.mark.parametrize("attack", VALUE_ATTACKS)
@pytest.mark.parametrize("experts", ["packed", "dequantized"])
def test_load_model_checks_values_while_copying(sound, tmp_path, attack, experts):
    name, change, fragment = VALUE_ATTACKS[attack]
    folder = copy(sound["original"], tmp_path)
    file = plant(folder, name, change)
    with pytest.raises(CheckpointError) as caught:
        load_model(folder, experts=experts, progress=False)
    message = str(caught.value)
    assert name in message and file in message and fragment in message and "check_values=False" in message
    load_model(folder, experts=experts, progress=False, check_values=False)  # the opt-out loads it


def test_highest_decodable_scale_byte_is_accepted(sound, tmp_path):
    folder = copy(sound["original"], tmp_path)
    plant(folder, "block.0.mlp.mlp1_weight.scales", with_scale(252))
    model = load_model(folder, experts="dequantized", progress=False)
    assert torch.isfinite(model.block[0].mlp.mlp1_weight).all()


def test_values_are_named_in_the_hf_layout(sound, tmp_path):
    folder = copy(sound["hf"], tmp_path)
    file = plant(folder, "model.layers.1.self_attn.k_proj.weight", with_nan)
    with pytest.raises(CheckpointError, match=f"'block.1.attn.qkv.weight'.*{file}"):
        load_model(folder, progress=False)
