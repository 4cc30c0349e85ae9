"""The python tool: output capture, errors, and the limits (time, memory, network, files, output budget)."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from gptoss_edu.agent.sandbox import PythonSandbox, SandboxLimits, truncate


@pytest.fixture(scope="module")
def sandbox():
    return PythonSandbox(SandboxLimits(timeout_s=3, memory_bytes=512 << 20, output_chars=2000))


def test_stdout_and_last_expression_value(sandbox):
    result = sandbox.run("print('hello')\nx = 6\nx * 7")
    assert result.stdout == "hello\n" and result.value == "42" and result.error is None and not result.timed_out
    assert result.refused_limits == []  # Linux sets every limit
    assert sandbox("", "print('hello')\nx = 6\nx * 7") == "hello\n42"


def test_statement_only_code_reports_no_value(sandbox):
    result = sandbox.run("y = 2")
    assert result.value is None and result.stdout == ""
    assert "no output" in result.to_text(100)


def test_errors_come_back_as_a_traceback_of_the_models_code(sandbox):
    text = sandbox("", "def f():\n    return 1 / 0\nf()")
    assert "ZeroDivisionError: division by zero" in text
    assert 'File "<python-tool>", line 2, in f' in text and "return 1 / 0" in text
    assert "sandbox_child" not in text
    assert "SyntaxError" in sandbox("", "x = (")


def test_runaway_loop_is_killed_at_the_timeout():
    sandbox = PythonSandbox(SandboxLimits(timeout_s=1))
    result = sandbox.run("print('started', flush=True)\nwhile True:\n    pass")
    assert result.timed_out and result.returncode < 0
    assert result.stdout == "started\n"
    assert result.error == "TimeoutError: execution exceeded 1 s and was killed"


def test_fork_is_refused(sandbox):
    """No grandchildren to outlive the call (and the timeout kills the whole process group regardless)."""
    assert "os.fork is disabled" in sandbox.run("import os\nos.fork()").error


def test_memory_is_capped(sandbox):
    result = sandbox.run("block = bytearray(1 << 30)\nlen(block)")
    assert result.value is None and "MemoryError" in result.error
    assert sandbox.run("len(bytearray(64 << 20))").value == str(64 << 20)


def test_network_is_refused_even_to_localhost(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    try:
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n'connected'"
        result = sandbox.run(code)
    finally:
        server.close()
    assert result.value is None and result.error is not None and not accepted
    assert "audit hook" in result.network


def test_network_namespace_alone_blocks_localhost_when_available():
    """Where the kernel allows unshare, the namespace refuses connections even without the audit hook."""
    from gptoss_edu.agent import sandbox_child

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: isolate, then try to connect without any audit hook; never return into pytest
        try:
            barrier = sandbox_child.isolate_network()
            try:
                socket.create_connection(("127.0.0.1", 9), timeout=1)
                outcome = "connected"
            except OSError as error:
                outcome = f"refused: {error}"
            os.write(write, f"{barrier}|{outcome}".encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    barrier, outcome = os.read(read, 1000).decode().split("|")
    if barrier == "audit hook only":
        pytest.skip("this kernel does not allow unprivileged network namespaces")
    assert outcome.startswith("refused")


def test_subprocesses_and_name_lookups_are_refused(sandbox):
    assert "subprocess.Popen is disabled" in sandbox.run("import subprocess\nsubprocess.run(['true'])").error
    assert "disabled" in sandbox.run("import socket\nsocket.getaddrinfo('example.com', 80)").error


def test_working_directory_is_throwaway(sandbox):
    first = sandbox.run("import os\nopen('note.txt', 'w').write('x')\nos.getcwd()")
    workdir = first.value.strip("'")
    assert workdir != os.getcwd() and not Path(workdir).exists()
    assert sandbox.run("import os\nos.path.exists('note.txt')").value == "False"


def test_output_is_truncated_to_the_budget(sandbox):
    text = sandbox("", "print('x' * 5000)")
    assert text.startswith("x" * 2000) and text.endswith("[... 3000 more characters truncated]")
    assert truncate("short", 10) == "short"


def test_written_files_are_size_limited():
    sandbox = PythonSandbox(SandboxLimits(file_bytes=1 << 20))
    result = sandbox.run("open('big', 'wb').write(b'0' * (2 << 20))")
    assert "File too large" in result.error


def test_tool_config_describes_the_real_limits(sandbox):
    config = sandbox.tool_config()
    assert config.name == "python" and config.tools == []
    assert "stateless" in config.description and "3 seconds" in config.description and "512 MiB" in config.description
