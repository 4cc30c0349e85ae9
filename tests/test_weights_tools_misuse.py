"""Misuse of ``python -m weights_tools``: nothing the user owns is lost, nothing hangs.

``bundle`` must never delete or overwrite what it did not create (hostile ``--name``, an
existing folder that is not a bundle, a user's README); leftovers of interrupted runs are
cleaned once their process is gone and never taken for output; ``download`` gives up on a
server that accepts connections and never answers (a socket on 127.0.0.1 only).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from gptoss_edu.config import TINY
from gptoss_edu.io import vocab
from gptoss_edu.io.bundle import bundle_checkpoints
from gptoss_edu.io.checkpoint import find_checkpoint
from gptoss_edu.io.files import remove_stale_partials
from gptoss_edu.io.vocab import VocabError, resolve_vocab
from weights_tools.__main__ import main
from weights_tools.synthetic import write_checkpoint

CFG = TINY.replace(vocab_size=1024, sliding_window=128, initial_context_length=4096, name="test")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("src") / "tiny", CFG, "original", seed=2)


def snapshot(folder) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> sha256): what 'untouched' means here."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run(capsys, *argv) -> tuple[int, str]:
    code = main([argv[0], "-q", *argv[1:]])
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, err


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---- bundle --------------------------------------------------------------------------------------
def test_bundle_records_what_it_created_and_extends_only_that(ckpt, tmp_path, capsys):
    out = tmp_path / "bundle"
    assert run(capsys, "bundle", str(out), str(ckpt), "--name", "first")[0] == 0
    manifest = json.loads((out / "bundle.json").read_text())
    assert sorted(manifest["created"]) == ["README.md", "checkpoints/first", "vocab/o200k_base.tiktoken"]
    (out / "notes.txt").write_text("mine")
    first = snapshot(out / "checkpoints" / "first")
    assert run(capsys, "bundle", str(out), str(ckpt), "--name", "second")[0] == 0
    assert snapshot(out / "checkpoints" / "first") == first and (out / "notes.txt").read_text() == "mine"
    assert "first, second" in (out / "README.md").read_text()


def test_a_users_readme_is_never_replaced(ckpt, tmp_path, capsys):
    out = tmp_path / "bundle"
    assert run(capsys, "bundle", str(out), str(ckpt), "--name", "a")[0] == 0
    (out / "README.md").write_text("# our class notes\n")
    assert run(capsys, "bundle", str(out), str(ckpt), "--name", "b")[0] == 0
    assert (out / "README.md").read_text() == "# our class notes\n"
    assert (out / "checkpoints" / "b" / "config.json").is_file()


def test_an_existing_folder_that_is_not_a_bundle_is_refused(ckpt, tmp_path, capsys):
    out = tmp_path / "my-folder"
    (out / "checkpoints" / "tiny").mkdir(parents=True)
    (out / "README.md").write_text("my readme")
    (out / "checkpoints" / "tiny" / "work.txt").write_text("precious")
    before = snapshot(out)
    code, err = run(capsys, "bundle", str(out), str(ckpt))
    assert code == 1 and "is not a gptoss-edu bundle" in err and len(err.strip().splitlines()) == 1
    assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["my-folder"]


def test_a_file_as_bundle_folder_is_refused(ckpt, tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("data")
    code, err = run(capsys, "bundle", str(out), str(ckpt))
    assert code == 1 and "not a folder" in err and out.read_text() == "data"


@pytest.mark.parametrize("name", ["/ABS", "../../victim", "..", ".", "a/b", ".hidden", "", "a\\b"])
def test_hostile_names_are_refused_and_touch_nothing(ckpt, tmp_path, capsys, name):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("keep me")
    out = tmp_path / "room" / "bundle"
    out.parent.mkdir()
    argv_name = str(victim) if name == "/ABS" else name
    before = snapshot(tmp_path)
    code, err = run(capsys, "bundle", str(out), str(ckpt), "--name", argv_name)
    assert code == 1 and "plain name" in err
    assert snapshot(tmp_path) == before and not out.exists()


def test_a_checkpoint_name_the_tool_did_not_create_is_refused(ckpt, tmp_path, capsys):
    out = tmp_path / "bundle"
    assert run(capsys, "bundle", str(out), str(ckpt), "--name", "a")[0] == 0
    (out / "checkpoints" / "hand-made").mkdir()
    (out / "checkpoints" / "hand-made" / "x").write_text("x")
    code, err = run(capsys, "bundle", str(out), str(ckpt), "--name", "hand-made")
    assert code == 1 and "was not created by the bundle tool" in err
    assert (out / "checkpoints" / "hand-made" / "x").read_text() == "x"
    assert run(capsys, "bundle", str(out), str(ckpt), "--name", "a")[0] == 0  # its own entry: replaced


def test_stale_partials_are_cleaned_and_never_offered(ckpt, tmp_path, capsys, monkeypatch):
    out = tmp_path / "bundle"
    assert run(capsys, "bundle", str(out), str(ckpt), "--name", "tiny")[0] == 0
    stale = out / "checkpoints" / f".tiny.{dead_pid()}.partial"
    shutil.copytree(ckpt, stale)
    monkeypatch.setenv("GPTOSS_EDU_BUNDLE", str(out))
    assert list(bundle_checkpoints()) == ["tiny"] and find_checkpoint()[0] == out / "checkpoints" / "tiny"
    assert run(capsys, "bundle", str(out), str(ckpt), "--name", "tiny")[0] == 0
    assert not stale.exists()


def test_partials_of_a_running_process_are_left_alone(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".ckpt.{sleeper.pid}.partial"
        dead = tmp_path / f".ckpt.{dead_pid()}.partial"
        other = tmp_path / f".other.{dead_pid()}.partial"
        link = tmp_path / f".ckpt.{dead_pid()}.old"
        for folder in (live, dead, other):
            folder.mkdir()
        link.symlink_to(tmp_path / "other-target")
        assert remove_stale_partials(tmp_path / "ckpt") == [dead]
        assert live.is_dir() and other.is_dir() and link.is_symlink()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_synth_cleans_stale_partials_and_refuses_to_overwrite_a_non_checkpoint(tmp_path, capsys):
    stale = tmp_path / f".out.{dead_pid()}.partial"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    assert run(capsys, "synth", str(tmp_path / "out"), "--set", "vocab_size=1024")[0] == 0
    assert not stale.exists() and (tmp_path / "out" / "config.json").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    code, err = run(capsys, "synth", str(mine), "--overwrite")
    assert code == 1 and "not a checkpoint folder" in err and (mine / "thesis.tex").read_text() == "years of work"


# ---- downloads against a server that accepts and never answers -----------------------------------------
@pytest.fixture
def stalled_server():
    """A listening socket on 127.0.0.1 that accepts connections and never sends a byte."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    stop.set()
    thread.join(5)
    for connection in accepted:
        connection.close()
    server.close()


def test_download_gives_up_on_a_stalled_server(stalled_server, tmp_path, capsys, monkeypatch):
    url, accepted = stalled_server
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    result = {}
    thread = threading.Thread(target=lambda: result.update(code=main(
        ["download", "gpt-oss-20b", "-q", "--out", str(tmp_path / "x"), "--timeout", "0.5"])), daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "download still waiting on a silent server"
    err = capsys.readouterr().err
    assert result["code"] == 1 and accepted and "Traceback" not in err
    assert "gave no answer within 0.5 s" in err and "hf download openai/gpt-oss-20b" in err
    assert not (tmp_path / "x").exists()


def test_vocab_download_gives_up_on_a_stalled_server(stalled_server, tmp_path, monkeypatch):
    url, _ = stalled_server
    for var in ("GPTOSS_EDU_VOCAB", "GPTOSS_EDU_BUNDLE", "TIKTOKEN_ENCODINGS_BASE", "DATA_GYM_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(vocab, "VOCAB_URL", f"{url}/o200k_base.tiktoken")
    monkeypatch.setattr(vocab, "DOWNLOAD_TIMEOUT", 0.5)
    with pytest.raises(VocabError, match="could not download.*timed out.*GPTOSS_EDU_VOCAB"):
        resolve_vocab()
    assert os.listdir(tmp_path) == []
