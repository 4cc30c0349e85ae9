"""The routing explorer in a real browser: JupyterLab + headless Chromium run notebook 07 and use the widget.

Starts JupyterLab on loopback (random free port, random token, ``root_dir=notebooks``, settings,
workspaces, config, data and runtime folders in a temporary directory), opens
``07_routing_explorer.ipynb`` in headless Chromium through Selenium and chromedriver, runs all
cells from the Run menu, types a new prompt into the explorer, presses run, and checks that
the grid re-rendered with exactly the new prompt's tokens. A screenshot goes to
``test-artifacts/browser_routing.png``.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; skipped
(with the reason) when any is missing. Nothing is downloaded: Selenium is given the driver path.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.browser

NOTEBOOK = "07_routing_explorer.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
PROMPT = "zebra = 12345  # unicorn"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000",
)
SERVER_START_S = 60
NOTEBOOK_RUN_S = 150
RERUN_S = 30
# JupyterLab settings for the test: never save the notebook (it is committed without outputs),
# render every cell (no windowing, so all prompts are in the page), start the notebook's kernel
# without asking, do not ask about news.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


def _browser_or_skip() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
    pytest.importorskip("selenium", reason="needs the selenium package (pip install selenium)")
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer {url} within {SERVER_START_S}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on loopback with private folders; yields ``(base_url, token)``."""
    port, token = _free_port(), secrets.token_hex(16)
    dirs = {name: tmp_path / name for name in ("runtime", "config", "data", "settings", "workspaces", "ipython")}
    for d in dirs.values():
        d.mkdir()
    for name, value in LAB_SETTINGS.items():
        path = dirs["settings"] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = {
        **os.environ,
        "GPTOSS_EDU_CI": "1",
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "IPYTHONDIR": str(dirs["ipython"]),
    }
    log = tmp_path / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
        f"--LabApp.user_settings_dir={dirs['settings']}", f"--LabApp.workspaces_dir={dirs['workspaces']}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT / "notebooks")
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", server, log)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium driven by Selenium, with a fresh profile."""
    binary, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _grid_tokens(driver) -> list[str]:
    """The tokens of the explorer's grid, read in one script call (the grid may be replaced at any moment)."""
    return driver.execute_script(
        "const grid = document.querySelector('.gx-grid-widget .gx-grid');"
        "return grid ? Array.from(grid.querySelectorAll('.gx-tok'), cell => cell.dataset.token) : [];"
    )


def _notebook_finished(driver) -> bool:
    """Every code cell shows an execution count (none is queued ``[*]`` or unrun ``[ ]``)."""
    return driver.execute_script(
        "const prompts = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'),"
        " p => p.textContent.trim());"
        "return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p));"
    )


def _run_all_cells(driver) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 60)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")))
    # the kernel must be connected first, or JupyterLab asks which kernel to start
    wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(text(), '| Idle')]")))
    wait.until(ec.element_to_be_clickable((By.XPATH, "//div[contains(@class,'lm-MenuBar-itemLabel') and text()='Run']"))).click()
    wait.until(ec.element_to_be_clickable((By.XPATH, "//div[contains(@class,'lm-Menu-itemLabel') and text()='Run All Cells']"))).click()


def test_explorer_reroutes_a_typed_prompt_in_the_browser(chromium, jupyterlab):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from gptoss_edu.training import nano

    base, token = jupyterlab
    driver = chromium
    tokenizer = nano.load_tokenizer()
    expected = [tokenizer.decode([i]) for i in tokenizer.encode(PROMPT)]
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "browser_routing.png"
    try:
        driver.get(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
        _run_all_cells(driver)
        WebDriverWait(driver, NOTEBOOK_RUN_S).until(
            _notebook_finished, f"{NOTEBOOK} did not finish within {NOTEBOOK_RUN_S}s (a failing cell stops Run All); "
            f"see {screenshot}")
        first = _grid_tokens(driver)
        assert first, "the notebook ran but the explorer's grid is not on the page"
        assert first != expected, "the explorer already shows the test prompt before it was typed"

        box = driver.find_element(By.CSS_SELECTOR, ".gx-prompt textarea")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        box.send_keys(PROMPT)
        driver.find_element(By.CSS_SELECTOR, ".gx-run").click()
        WebDriverWait(driver, RERUN_S).until(
            lambda d: _grid_tokens(d) == expected,
            f"{RERUN_S}s after pressing run the grid still did not show the tokens {expected!r}")
        grid = driver.find_element(By.CSS_SELECTOR, ".gx-grid-widget .gx-grid")
        layers = nano.NANO_CONFIG.num_hidden_layers
        assert len(grid.find_elements(By.CSS_SELECTOR, ".gx-cell")) == layers * len(expected)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", grid)
    finally:
        driver.save_screenshot(str(screenshot))
