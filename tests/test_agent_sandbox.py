"""The python tool doing ordinary work: output, errors, limits, the backend it reports, and refusing without one.

Hostile code is in ``test_agent_sandbox_attacks.py``.
"""
from __future__ import annotations

import os
import stat
import sys
import warnings

import pytest

from gptoss_edu.agent import sandbox_backends
from gptoss_edu.agent.sandbox import (
    PythonSandbox,
    SandboxLimits,
    SandboxUnavailable,
    UnisolatedWarning,
    available_backends,
    truncate,
)
from gptoss_edu.agent.sandbox_backends import Bubblewrap, Docker

BUBBLEWRAP_MISSING = Bubblewrap().unavailable_reason()
needs_bubblewrap = pytest.mark.skipif(BUBBLEWRAP_MISSING is not None, reason=f"bubblewrap: {BUBBLEWRAP_MISSING}")


@pytest.fixture(scope="module")
def sandbox():
    return PythonSandbox(SandboxLimits(timeout_s=3, memory_bytes=512 << 20, output_chars=2000), backend="bubblewrap")


@needs_bubblewrap
def test_stdout_and_last_expression_value(sandbox):
    result = sandbox.run("print('hello')\nx = 6\nx * 7")
    assert result.stdout == "hello\n" and result.value == "42" and result.error is None and not result.timed_out
    assert result.refused_limits == []  # Linux sets every per-process limit
    assert sandbox("", "print('hello')\nx = 6\nx * 7") == "hello\n42"


@needs_bubblewrap
def test_auto_picks_bubblewrap_and_reports_it():
    result = PythonSandbox().run("1 + 1")
    assert result.value == "2" and result.backend == "bubblewrap" and "no interface" in result.network
    assert result.limits and 0 < result.elapsed_s


@needs_bubblewrap
def test_ordinary_work_numbers_files_and_a_second_of_computation(sandbox):
    code = ("import json, math, time\n"
            "open('data.json', 'w').write(json.dumps([math.comb(10, k) for k in range(11)]))\n"
            "start = time.time()\nwhile time.time() - start < 1:\n    pass\n"
            "sum(json.load(open('data.json')))")
    result = PythonSandbox(SandboxLimits(timeout_s=8), backend="bubblewrap").run(code)
    assert result.value == "1024" and result.error is None and result.elapsed_s >= 1


@needs_bubblewrap
def test_statement_only_code_reports_no_value(sandbox):
    result = sandbox.run("y = 2")
    assert result.value is None and result.stdout == ""
    assert "no output" in result.to_text(100)


@needs_bubblewrap
def test_errors_come_back_as_a_traceback_of_the_models_code(sandbox):
    text = sandbox("", "def f():\n    return 1 / 0\nf()")
    assert "ZeroDivisionError: division by zero" in text
    assert 'File "<python-tool>", line 2, in f' in text and "return 1 / 0" in text
    assert "gptoss-report" not in text and "<string>" not in text
    assert "SyntaxError" in sandbox("", "x = (")


@needs_bubblewrap
def test_runaway_loop_is_killed_at_the_timeout():
    result = PythonSandbox(SandboxLimits(timeout_s=1), backend="bubblewrap").run(
        "print('started', flush=True)\nwhile True:\n    pass")
    assert result.timed_out and result.returncode < 0
    assert result.stdout == "started\n"
    assert result.error == "TimeoutError: execution exceeded 1 s and was killed"


@needs_bubblewrap
def test_memory_is_capped(sandbox):
    result = sandbox.run("block = bytearray(1 << 30)\nlen(block)")
    assert result.value is None and "MemoryError" in result.error
    assert sandbox.run("len(bytearray(64 << 20))").value == str(64 << 20)


@needs_bubblewrap
def test_subprocesses_run_inside_the_sandbox(sandbox):
    """Inside the sandbox a subprocess is just more sandboxed code: it runs, and sees the same walls."""
    result = sandbox.run("import subprocess\nsubprocess.run(['id', '-u'], capture_output=True, text=True).stdout")
    assert result.value == repr("1000\n")


@needs_bubblewrap
def test_working_directory_is_fresh_for_every_call(sandbox):
    first = sandbox.run("import os\nopen('note.txt', 'w').write('x')\nos.getcwd()")
    assert first.value == repr(sandbox_backends.WORKDIR)
    assert sandbox.run("import os\nos.path.exists('note.txt')").value == "False"


@needs_bubblewrap
def test_output_is_truncated_to_the_budget(sandbox):
    text = sandbox("", "print('x' * 5000)")
    assert text.startswith("x" * 2000) and text.endswith("[... 3000 more characters truncated]")
    assert truncate("short", 10) == "short"


@needs_bubblewrap
def test_written_files_are_size_limited():
    sandbox = PythonSandbox(SandboxLimits(file_bytes=1 << 20), backend="bubblewrap")
    assert "File too large" in sandbox.run("open('big', 'wb').write(b'0' * (2 << 20))").error


@needs_bubblewrap
def test_the_working_directory_is_size_limited():
    sandbox = PythonSandbox(SandboxLimits(file_bytes=1 << 20, disk_bytes=4 << 20), backend="bubblewrap")
    code = "for i in range(8):\n    open(f'part{i}', 'wb').write(b'0' * (1 << 20))"
    assert "No space left on device" in sandbox.run(code).error


def test_tool_config_describes_the_real_limits():
    config = PythonSandbox(SandboxLimits(timeout_s=3, memory_bytes=512 << 20)).tool_config()
    assert config.name == "python" and config.tools == []
    assert "stateless" in config.description and "3 seconds" in config.description and "512 MiB" in config.description
    assert "no internet access" in config.description


def test_without_a_sandbox_model_code_is_refused(monkeypatch):
    monkeypatch.setattr(Bubblewrap, "unavailable_reason", lambda self: "bwrap is not installed")
    monkeypatch.setattr(Docker, "unavailable_reason", lambda self: "no Docker daemon is reachable")
    sandbox = PythonSandbox()
    with pytest.raises(SandboxUnavailable, match="bwrap is not installed.*no Docker daemon.*backend='unisolated'"):
        sandbox.run("print('hi')")
    assert set(available_backends()) == {"bubblewrap", "docker"}


def test_in_the_agent_loop_the_refusal_reaches_the_model(monkeypatch):
    from gptoss_edu.agent import AgentLoop, RecordedCompletions, build_conversation

    monkeypatch.setattr(Bubblewrap, "unavailable_reason", lambda self: "bwrap is not installed")
    monkeypatch.setattr(Docker, "unavailable_reason", lambda self: "no Docker daemon is reachable")
    tools = [PythonSandbox()]
    model = RecordedCompletions(["<|channel|>analysis to=python<|message|>print(1)<|call|>",
                                 "<|channel|>final<|message|>no sandbox<|return|>"])
    result = AgentLoop(model, tools).run(build_conversation("compute", tools))
    answer = result.steps[0].tool_messages[0].text()
    assert answer.startswith("Error: python failed with SandboxUnavailable: refusing to run model code")


def test_unisolated_runs_only_when_named_and_warns_once():
    with pytest.warns(UnisolatedWarning, match="NO isolation"):
        sandbox = PythonSandbox(SandboxLimits(timeout_s=5), backend="unisolated")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # running does not warn again
        result = sandbox.run("print('hi')\n6 * 7")
    assert (result.stdout, result.value, result.backend) == ("hi\n", "42", "unisolated")
    assert "YOUR network" in result.network and "NOT isolated" in sandbox.tool_config().description
    with pytest.raises(ValueError, match="unknown backend 'bwrap'"):
        PythonSandbox(backend="bwrap")


def test_docker_command_keeps_the_container_closed():
    limits = SandboxLimits(memory_bytes=256 << 20, max_processes=16, disk_bytes=8 << 20)
    command = Docker("python:3.11-slim").command("RUNNER", limits, 3, 1 << 20, "gptoss-python-test")
    joined = " ".join(command)
    for expected in ("run --rm -i --init --name gptoss-python-test", "--network none", f"--memory {256 << 20}",
                     f"--memory-swap {256 << 20}", "--pids-limit 16", "--read-only", "--cap-drop ALL",
                     "--security-opt no-new-privileges", "--user 65534:65534", f"/sandbox:rw,size={8 << 20}",
                     f"--shm-size {8 << 20}"):
        assert expected in joined
    assert command[command.index("python:3.11-slim") + 1:][:4] == ["python", "-I", "-c", "RUNNER"]


def test_docker_availability_is_detected_honestly(tmp_path, monkeypatch):
    """Without a docker command, or with one whose daemon does not answer, Docker says why it cannot run."""
    sandbox_backends._docker_probe.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "not installed" in Docker().unavailable_reason()
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    sandbox_backends._docker_probe.cache_clear()
    assert "no Docker daemon" in Docker().unavailable_reason()
    sandbox_backends._docker_probe.cache_clear()


def test_docker_backend_plumbing_with_a_fake_client(tmp_path, monkeypatch):
    """FAKE docker client (runs the container's command as a local process, no isolation): checks that the
    runner's report travels at the end of stderr and is separated from the code's own stderr."""
    fake = tmp_path / "docker"
    fake.write_text(
        f"#!/bin/sh\ncase \"$1\" in\n  version|image|kill) exit 0 ;;\nesac\n"
        f"while [ \"$1\" != python ]; do shift; done\nshift\nexec {sys.executable} \"$@\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    sandbox_backends._docker_probe.cache_clear()
    try:
        result = PythonSandbox(SandboxLimits(timeout_s=5), backend="docker").run(
            "import sys\nprint('out')\nprint('err', file=sys.stderr)\n6 * 7")
    finally:
        sandbox_backends._docker_probe.cache_clear()
    assert (result.stdout, result.stderr, result.value, result.backend) == ("out\n", "err\n", "42", "docker")


def test_systemd_scope_command_sets_the_totals():
    """Built for desktop Linux (a systemd user session); this machine may not have one, so only the command is checked."""
    from gptoss_edu.agent.cgroups import systemd_scope

    command = systemd_scope(["bwrap", "python"], 256 << 20, 20)
    assert command[:4] == ["systemd-run", "--user", "--scope", "--quiet"] and command[-3:] == ["--", "bwrap", "python"]
    assert {f"--property=MemoryMax={256 << 20}", "--property=MemorySwapMax=0", "--property=TasksMax=20"} <= set(command)
