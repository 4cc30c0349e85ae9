"""The README's lab command, verbatim: `make lab` starts JupyterLab on the student edition and it answers."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_the_notebooks(tmp_path):
    port, token = _free_port(), "gptoss-edu-test"
    config_dir = tmp_path / "jupyter-config"
    config_dir.mkdir()
    # Where to listen and that no browser opens: the command itself stays exactly `make lab`.
    (config_dir / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"port": port, "ip": "127.0.0.1", "open_browser": False, "port_retries": 0, "allow_root": True},
        "IdentityProvider": {"token": token},
    }))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    lab = subprocess.Popen(
        ["make", "lab"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        contents = _wait_for(f"http://127.0.0.1:{port}/api/contents?token={token}", lab, timeout_s=180)
        names = {item["name"] for item in contents["content"]}
        assert any(name.endswith(".ipynb") for name in names), names
        assert "00_welcome.ipynb" in names
        router = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/04_router.ipynb?token={token}"))
        sources = "".join(cell["source"] for cell in router["content"]["cells"])
        assert "YOUR CODE HERE" in sources, "make lab should open the student edition, not the solutions"
        status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/lab/api/settings?token={token}"))
        assert status  # the JupyterLab extension (not only the bare server) answers
    finally:
        _stop(lab)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _wait_for(url: str, process: subprocess.Popen, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`make lab` exited with {process.returncode}:\n{process.stdout.read().decode()[-3000:]}")
        try:
            return json.load(urllib.request.urlopen(url, timeout=2))
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer at {url} within {timeout_s}s")
