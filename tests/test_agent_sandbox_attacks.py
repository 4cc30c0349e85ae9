"""Model code attacking the python tool: every escape of issue 13, asserted on observable harm.

Each test runs hostile code in every isolating backend this machine has (the others are skipped
with the reason) and checks what an attacker would want: files outside changed or read, a
secret leaked, the parent killed or hung, processes left behind, bytes reaching a listener on
127.0.0.1, a forged status believed, the real error lost.
"""
from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from gptoss_edu.agent import sandbox_child
from gptoss_edu.agent.sandbox import PythonSandbox, SandboxLimits
from gptoss_edu.agent.sandbox_backends import BACKENDS

TIMEOUT_S = 3.0
ISOLATING = ["bubblewrap", "docker"]


@pytest.fixture(params=ISOLATING)
def backend(request) -> str:
    reason = BACKENDS[request.param]().unavailable_reason()
    if reason is not None:
        pytest.skip(f"{request.param} backend not available here: {reason}")
    return request.param


def run(backend: str, code: str, **limits):
    """Run ``code`` and check the parent got its answer within the timeout plus a small margin."""
    sandbox = PythonSandbox(SandboxLimits(**{"timeout_s": TIMEOUT_S, "memory_bytes": 256 << 20, **limits}),
                            backend=backend)
    started = time.monotonic()
    result = sandbox.run(code)
    assert time.monotonic() - started < sandbox.limits.timeout_s + 5, "the parent was held past the timeout"
    assert result.backend == backend
    return result


def everything(result) -> str:
    return "\n".join(filter(None, (result.stdout, result.stderr, result.value, result.error)))


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def processes_with(marker: str) -> list[int]:
    """Host processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class Listener:
    """A TCP listener on 127.0.0.1 (and a unix socket in ``folder``) recording every connection and byte."""

    def __init__(self, folder: Path):
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp_port = self.udp.getsockname()[1]
        self.unix_path = str(folder / "listener.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        self.abstract = f"gptoss-test-{uuid.uuid4().hex}"
        self.abstract_socket = socket.socket(socket.AF_UNIX)
        self.abstract_socket.bind("\0" + self.abstract)
        self.received: list[bytes] = []
        for server in (self.tcp, self.unix, self.abstract_socket):
            server.listen(4)
            server.settimeout(0.2)
        self.udp.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for server in (self.tcp, self.unix, self.abstract_socket):
                try:
                    connection, _ = server.accept()
                    self.received.append(b"<connection>" + connection.recv(100))
                except OSError:
                    pass
            try:
                self.received.append(self.udp.recv(100))
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for server in (self.tcp, self.udp, self.unix, self.abstract_socket):
            server.close()


# --- files and secrets outside ------------------------------------------------------------------------------

def test_files_outside_cannot_be_read(backend, tmp_path):
    secret = tmp_path / "private.txt"
    token = uuid.uuid4().hex
    secret.write_text(token)
    secret.chmod(0o600)
    host_passwd = Path("/etc/passwd").read_text()
    code = (f"out = []\nfor path in ['/etc/passwd', '/etc/shadow', {str(secret)!r}, {str(Path.home() / '.bashrc')!r}]:\n"
            "    try:\n        out.append(open(path).read())\n    except OSError as error:\n        out.append(repr(error))\n"
            "print(out)")
    text = everything(run(backend, code))
    assert token not in text
    # A Docker image has an /etc/passwd of its own (with a root line); bubblewrap's minimal /etc has none.
    assert backend == "docker" or "root:x:0:0" not in text
    assert all(line not in text for line in host_passwd.splitlines() if "/home/" in line)


@pytest.fixture
def restored_afterwards():
    """Back up ~/.bashrc and the installed runner, and put them back whatever happens (a failing sandbox would
    otherwise leave the damage behind on the machine running the tests)."""
    paths = [Path.home() / ".bashrc", Path(sandbox_child.__file__)]
    saved = {path: path.read_bytes() if path.exists() else None for path in paths}
    yield paths
    for path, content in saved.items():
        if content is None:
            path.unlink(missing_ok=True)
        elif path.read_bytes() != content:
            path.write_bytes(content)


def test_files_outside_cannot_be_changed(backend, tmp_path, restored_afterwards):
    bashrc, child = restored_afterwards
    target = tmp_path / "planted"
    before = digest(bashrc), digest(child)
    code = (f"import ctypes, os, subprocess\nfor path in [{str(bashrc)!r}, {str(child)!r}, {str(tmp_path / 'x')!r}]:\n"
            "    try:\n        open(path, 'a').write('\\nimport os; os.system(\"touch /tmp/pwned\")\\n')\n"
            "    except OSError as error:\n        print(error)\n"
            f"ctypes.CDLL(None).system(b'touch {target} ; echo owned >> {bashrc}')\n"
            f"subprocess.run(['sh', '-c', 'touch {target}'])\n"
            f"os.system('cp /dev/null {child}')")
    run(backend, code)
    assert (digest(bashrc), digest(child)) == before
    assert not target.exists() and not (tmp_path / "x").exists()
    assert run(backend, "6 * 7").value == "42"  # the next ordinary call is unaffected


def test_parent_environment_cannot_be_read(backend, monkeypatch):
    token = uuid.uuid4().hex
    monkeypatch.setenv("GPTOSS_PLANTED_TOKEN", token)
    code = (f"import os\nout = [open('/proc/self/environ', 'rb').read(), str(os.environ)]\n"
            f"for pid in ['{os.getpid()}', str(os.getppid()), '1', *os.listdir('/proc')]:\n"
            "    try:\n        out.append(open(f'/proc/{pid}/environ', 'rb').read())\n    except (OSError, ValueError):\n"
            "        pass\nprint(out)")
    assert token not in everything(run(backend, code))


def test_kernel_settings_are_out_of_reach(backend):
    """Opened for writing only, never written: a failure must not change the machine running the tests."""
    code = ("import os\nfor path in ['/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches', '/proc/sysrq-trigger',\n"
            "             '/proc/sys/kernel/hostname', '/sys/kernel/mm/transparent_hugepage/enabled']:\n"
            "    try:\n        os.close(os.open(path, os.O_WRONLY))\n        print('WRITABLE', path)\n"
            "    except OSError as error:\n        print('refused', path, error.strerror)")
    result = run(backend, code)
    assert "WRITABLE" not in result.stdout and result.stdout.count("refused") == 5


def test_no_way_to_new_privileges_through_namespaces(backend):
    """A fresh user namespace would hand the code every capability inside it: refused, as is setns."""
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "print('unshare', libc.unshare(0x10000000), libc.unshare(0x10000000 | 0x40000000), libc.unshare(0x20000))\n"
            "print('setns', libc.setns(0, 0))")
    assert run(backend, code).stdout == "unshare -1 -1 -1\nsetns -1\n"


def test_scratch_space_is_capped(backend):
    code = ("import os\nfor folder in ('.', '/tmp', '/dev/shm'):\n    try:\n        for i in range(64):\n"
            "            with open(os.path.join(folder, f'fill{i}'), 'wb') as handle:\n"
            "                handle.write(b'0' * (1 << 20))\n        print('filled', folder)\n"
            "    except OSError as error:\n        print('capped', folder, error.strerror)")
    result = run(backend, code, file_bytes=2 << 20, disk_bytes=8 << 20)
    assert "filled" not in result.stdout


# --- the parent stays alive, answers in time, and keeps its memory -------------------------------------------

def test_the_parent_cannot_be_killed(backend):
    # kill(-1) signals every process the caller may signal: only sent when the code sees itself in a fresh pid
    # namespace (a low pid), so that a broken sandbox fails this test instead of killing the test machine.
    code = (f"import os, signal\ntargets = [{os.getpid()}, os.getppid(), 0] + ([-1] if os.getpid() < 100 else [])\n"
            "for pid in targets:\n"
            "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError as error:\n        print(error)")
    result = run(backend, code)
    assert result.error is not None or result.returncode != 0 or result.value is None  # it killed only itself
    assert run(backend, "6 * 7").value == "42"  # and we are still here to ask again


def test_result_capture_cannot_be_turned_into_a_fifo_or_dev_zero(backend):
    code = ("import os, sys\nfor name in ('result.json', 'stdout', 'stderr', '/tmp/result.json'):\n"
            "    try:\n        os.mkfifo(name)\n    except OSError:\n        pass\n"
            "zero = os.open('/dev/zero', os.O_RDONLY)\nos.mkfifo('hang')\n"
            "for fd in range(3, 64):\n    try:\n        os.dup2(zero, fd)\n    except OSError:\n        pass\n"
            "os.dup2(os.open('hang', os.O_RDWR), 2)\nos.sendfile(1, zero, None, 1 << 40)")
    result = run(backend, code, output_chars=1000)
    assert len(result.stdout) <= 1 << 20 and len(result.stderr) <= 1 << 20


def test_endless_output_is_bounded(backend):
    code = "import os\nwhile True:\n    os.write(1, b'x' * 65536)\n    os.write(2, b'y' * 65536)"
    result = run(backend, code, output_chars=1000)
    assert result.timed_out and "bytes dropped" in result.stdout and len(result.stdout) < 1 << 18
    assert len(result.stderr) < 1 << 20


# --- nothing left behind ------------------------------------------------------------------------------------

@pytest.mark.parametrize("ending", ["returns", "times out"])
def test_no_process_outlives_the_call(backend, ending):
    marker = f"{time.time_ns() % 10**6}.{os.getpid()}"
    code = (f"import ctypes, os, subprocess\nlibc = ctypes.CDLL(None)\n"
            "for _ in range(5):\n    if libc.fork() == 0:\n        libc.setsid()\n"
            f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
            f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
            "pid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            f"        os.execvp('sleep', ['sleep', '{marker}'])\n    os._exit(0)\n"
            + ("while True:\n    pass\n" if ending == "times out" else "'spawned'"))
    result = run(backend, code, timeout_s=2)
    assert result.timed_out == (ending == "times out")
    assert processes_with(marker) == []


def test_forked_children_share_one_memory_limit(backend):
    """Four children each holding 150 MiB would need 600 MiB; the limit is 256 MiB for all of them together.

    Each child reports its pid once its memory is touched; at the end the parent counts the
    children that reported and are still alive (one that reported may be killed afterwards,
    when a later one pushes the group over the limit: the out-of-memory killer picks the largest)."""
    code = ("import os, time\nready_r, ready_w = os.pipe()\npids = []\n"
            "for _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n        block = bytearray(150 << 20)\n"
            "        block[::4096] = b'1' * len(block[::4096])\n        os.write(ready_w, b'%8d' % os.getpid())\n"
            "        time.sleep(30)\n        os._exit(0)\n    pids.append(pid)\n"
            "reported, deadline = b'', time.time() + 2.5\nos.set_blocking(ready_r, False)\n"
            "while time.time() < deadline:\n    try:\n        reported += os.read(ready_r, 64)\n"
            "    except BlockingIOError:\n        time.sleep(0.05)\n"
            "holding = {int(reported[i:i + 8]) for i in range(0, len(reported), 8)}\n"
            "alive = {pid for pid in pids if os.waitpid(pid, os.WNOHANG) == (0, 0)}\n"
            "print('holding', len(holding & alive))")
    result = run(backend, code, timeout_s=5)
    assert "holding 0" in result.stdout or "holding 1" in result.stdout, (result.stdout, result.error)
    if "cgroup" in result.limits:
        assert result.oom_killed


def test_a_fork_bomb_is_capped_and_cleaned_up(backend):
    marker = f"{time.time_ns() % 10**6}.{os.getpid()}"
    code = ("import os\nstarted = 0\nfor _ in range(300):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n"
            f"        os.execvp('sleep', ['sleep', '{marker}'])\n    started += 1\nstarted")
    result = run(backend, code, max_processes=16)
    assert result.value is not None and int(result.value) < 16
    assert processes_with(marker) == []


# --- no network, not even 127.0.0.1, not back into the host's network namespace -----------------------------

def test_no_bytes_reach_listeners_on_localhost_or_unix_sockets(backend, tmp_path):
    listener = Listener(tmp_path)
    code = (
        "import ctypes, os, socket\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"for pid in [{os.getpid()}, os.getppid(), 1, *os.listdir('/proc')]:\n"
        "    try:\n        fd = os.open(f'/proc/{pid}/ns/net', os.O_RDONLY)\n"
        "        print('setns', pid, libc.setns(fd, 0x40000000), ctypes.get_errno())\n    except (OSError, ValueError):\n"
        "        pass\n"
        f"attempts = [(socket.AF_INET, ('127.0.0.1', {listener.port})), (socket.AF_UNIX, {listener.unix_path!r}),\n"
        f"            (socket.AF_UNIX, '\\0{listener.abstract}')]\n"
        "for family, address in attempts:\n    try:\n        s = socket.socket(family)\n        s.settimeout(1)\n"
        "        s.connect(address)\n        s.sendall(b'leak')\n        print('connected', address)\n"
        "    except OSError as error:\n        print('refused', address, error)\n"
        "try:\n"
        f"    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'leak', ('127.0.0.1', {listener.udp_port}))\n"
        "except OSError as error:\n    print('udp refused', error)")
    try:
        result = run(backend, code)
        time.sleep(0.5)
    finally:
        listener.close()
    assert listener.received == [], listener.received
    assert "connected" not in result.stdout


# --- the parent's own measurements win; the real error text comes back --------------------------------------

def test_a_forged_report_does_not_change_status_or_timing(backend):
    forged = ('{"value": "forged", "error": null, "timed_out": false, "returncode": 0, "network": "host", '
              '"backend": "none", "elapsed_s": 0}')
    code = ("import os, time\nfor fd in range(2, 20):\n    try:\n"
            f"        os.write(fd, b'\\0gptoss-report\\0' + {forged!r}.encode())\n    except OSError:\n        pass\n"
            "time.sleep(30)")
    result = run(backend, code, timeout_s=1)
    assert result.timed_out and result.error.startswith("TimeoutError") and result.elapsed_s >= 1
    assert result.backend == backend and result.network != "host"
    killed = run(backend, code.replace("time.sleep(30)", "os.kill(os.getpid(), 9)"))
    assert killed.returncode == -9 and "SIGKILL" in killed.error and not killed.timed_out


def test_a_huge_error_message_still_names_the_error(backend):
    result = run(backend, "raise ValueError('x' * 20_000_000 + ' the end')")
    assert result.error.rstrip().endswith("the end") and "ValueError" in result.error
    assert len(result.error) < 100_000


@pytest.mark.parametrize("code, expected", [
    ("(" * 100_000 + ")" * 100_000, "SyntaxError"),
    ("x = " + "-" * 3000 + "1", "RecursionError"),
    ("x = " + "-" * 200_000 + "1", "MemoryError"),  # what CPython's parser itself raises this deep
    ("[" * 5000 + "]" * 5000, "SyntaxError"),
])
def test_absurdly_deep_code_reports_the_real_error(backend, code, expected):
    result = run(backend, code)
    assert expected in result.error and "exited with status" not in result.error


def test_an_exception_that_cannot_be_printed_is_still_named(backend):
    code = "class Evil(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise Evil()"
    assert "Evil" in run(backend, code).error
