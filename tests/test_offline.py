"""Offline by design: the peers find the vocabulary we hand them, and the setup check says what is missing."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from gptoss_edu.io.vocab import resolve_vocab
from gptoss_edu.setup_check import check_package, run_checks

NO_NETWORK = ["unshare", "-n"] if os.geteuid() == 0 and shutil.which("unshare") else None


def offline_env(tmp_path, **extra) -> dict:
    """No tiktoken or harmony caches, an empty course cache, the vocabulary only where GPTOSS_EDU_VOCAB says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIKTOKEN_", "DATA_GYM", "GPTOSS_EDU_"))}
    env.update(TMPDIR=str(tmp_path / "tmp"), HOME=str(tmp_path / "home"), GPTOSS_EDU_CACHE=str(tmp_path / "cache"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "home").mkdir()
    return {**env, **extra}


@pytest.mark.skipif(NO_NETWORK is None, reason="needs root and unshare to cut the network")
def test_tiktoken_and_harmony_work_without_a_network_once_given_our_vocabulary(tmp_path):
    code = (
        "from gptoss_edu.io.offline import share_vocab_with_peers; share_vocab_with_peers();"
        "import tiktoken, openai_harmony as h;"
        "print(tiktoken.get_encoding('o200k_harmony').encode('offline ok'));"
        "e = h.load_harmony_encoding(h.HarmonyEncodingName.HARMONY_GPT_OSS); print(e.decode_utf8(e.encode('hi')))"
    )
    env = offline_env(tmp_path, GPTOSS_EDU_VOCAB=str(resolve_vocab(download=False)))
    done = subprocess.run([*NO_NETWORK, sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "hi"


def test_reference_if_present_is_silent_about_the_network(tmp_path):
    code = "from gptoss_edu.conformance.reference import reference_if_present; print(reference_if_present())"
    done = subprocess.run([sys.executable, "-c", code], env=offline_env(tmp_path), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "is not on this machine" in done.stdout and done.stdout.strip().endswith("None")


def test_reference_if_present_uses_a_wheel_in_the_cache(reference_model, tmp_path):
    from gptoss_edu.conformance.reference import REFERENCE_VERSION, _wheel

    wheels = tmp_path / "cache" / "wheels"
    wheels.mkdir(parents=True)
    shutil.copy(_wheel(REFERENCE_VERSION), wheels)
    code = "from gptoss_edu.conformance.reference import reference_if_present; print(reference_if_present().__name__)"
    done = subprocess.run([*(NO_NETWORK or []), sys.executable, "-c", code], env=offline_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "gpt_oss.torch.model"


def test_setup_check_names_what_is_missing_and_fails(tmp_path):
    env = offline_env(tmp_path, GPTOSS_EDU_VOCAB=str(tmp_path / "nowhere.tiktoken"), GPTOSS_EDU_WEIGHTS=str(tmp_path / "w"))
    done = subprocess.run([sys.executable, "-m", "gptoss_edu.setup_check"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    vocab = next(line for line in lines if "o200k vocabulary" in line)
    assert vocab.startswith("✗") and "GPTOSS_EDU_VOCAB" in vocab and "does not exist" in vocab
    assert any(line.startswith("✗ real weights") and "is not a folder" in line for line in lines)
    assert "Missing: o200k vocabulary, real weights" in done.stdout


def test_a_missing_package_says_how_to_install_it():
    finding = check_package("surely_not_a_module", "surely-not", needed=True)
    assert finding.status == "missing" and "pip install" in finding.detail and finding.line().startswith("✗")
    assert check_package("surely_not_a_module", "surely-not", needed=False).status == "optional"


def test_every_check_reports_a_line_in_this_environment():
    findings = run_checks()
    assert {f.what for f in findings} >= {"python", "torch", "o200k vocabulary", "GPU", "python tool sandbox"}
    assert all(f.status in ("ok", "missing", "optional") for f in findings)


def test_offline_kit_is_a_bundle_the_course_uses_without_a_network(reference_model, tmp_path):
    kit = tmp_path / "kit"
    built = subprocess.run([sys.executable, "scripts/offline_kit.py", str(kit), "--no-wheels"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    assert {p.name for p in kit.iterdir()} >= {"README.md", "bundle.json", "INSTALL.md", "vocab", "checkpoints", "reference", "install.sh", "install.ps1"}
    assert subprocess.run(["sh", "-n", str(kit / "install.sh")]).returncode == 0
    cache = tmp_path / "cache" / "wheels"
    cache.mkdir(parents=True)
    for wheel in (kit / "reference").glob("*.whl"):  # what install.sh does
        shutil.copy(wheel, cache)
    code = (
        "import torch, gptoss_edu; from gptoss_edu.tokenizer import o200k_harmony;"
        "from gptoss_edu.conformance.reference import reference_if_present;"
        "m = gptoss_edu.load_model(progress=False); ids = o200k_harmony().encode('hello');"
        "print(tuple(m(torch.tensor(ids) % m.config.vocab_size).shape), reference_if_present().__name__)"
    )
    env = offline_env(tmp_path, GPTOSS_EDU_BUNDLE=str(kit))
    done = subprocess.run([*(NO_NETWORK or []), sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "gpt_oss.torch.model"


def test_offline_kit_downloads_binary_wheels_for_each_platform():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import offline_kit
    finally:
        sys.path.pop(0)
    mac = offline_kit.download_command("macos-arm64", ROOT / "wh")
    assert "--only-binary=:all:" in mac and "macosx_11_0_arm64" in mac and "--python-version" in mac
    assert not any(r.startswith("triton") for r in mac), "Triton has no macOS wheels"
    assert any(r.startswith("triton") for r in offline_kit.download_command("linux-x86_64", ROOT / "wh"))
    assert any(r.startswith("torch") for r in offline_kit.requirements("windows-amd64"))
