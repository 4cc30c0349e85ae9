"""Where the python tool's code runs: bubblewrap, Docker, or (only when asked by name) nowhere isolated.

Each backend turns "run this runner with these limits" into a started process (:class:`Call`)
and knows how to end everything that process started:

* :class:`Bubblewrap` (``bwrap``, Linux): new user, pid, ipc, uts, network, mount and cgroup
  namespaces; a root that holds only ``/usr``, the Python installation and its site-packages
  (all read-only), a minimal ``/etc``, private ``/proc``, ``/dev`` and a size-capped ``tmpfs``
  working directory; no capabilities, no further user namespaces, ``--die-with-parent``,
  ``--new-session``. Total memory and process count: a cgroup (:mod:`gptoss_edu.agent.cgroups`).
  Behind that, a seccomp filter (:mod:`gptoss_edu.agent.seccomp`) refuses the system calls
  Python never needs and exploits love (ptrace, bpf, io_uring, mount, namespaces...).
  Everything ends with the pid namespace: the parent kills its first process, which takes
  every other one with it, and waits until it is gone.
* :class:`Docker`: a throwaway container as OpenAI's reference python tool uses (``--network
  none``, read-only root, ``tmpfs`` work dir, ``--memory``, ``--pids-limit``, no capabilities,
  an unprivileged user); ended with ``docker kill``. Needs a reachable daemon and an image with
  Python (only the standard library, unless the image has more).
* :class:`Unisolated`: a plain child process with per-process limits. It can read your files,
  use your network and outlive the call; it exists so that a course can run where no sandbox
  exists, and only when the caller writes ``backend="unisolated"``.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import shutil
import signal
import site
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from gptoss_edu.agent import cgroups, seccomp
from gptoss_edu.agent.sandbox_io import read_available

WORKDIR = "/sandbox"
_SANDBOX_UID = 1000
_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class Limits(Protocol):
    """What a backend reads from :class:`gptoss_edu.agent.sandbox.SandboxLimits`."""

    memory_bytes: int
    max_processes: int
    disk_bytes: int


@dataclass
class Call:
    """One started call: the process, the parent's end of the report pipe, and how to end it all."""

    process: subprocess.Popen
    report_fd: int | None  # None: the runner's report arrives at the end of stderr
    limits_text: str
    end_all: list[Callable[[], None]] = field(default_factory=list)
    read_oom: Callable[[], bool | None] = lambda: None
    oom_killed: bool | None = None  # measured by finish(), before the cgroup goes

    def finish(self) -> None:
        """Kill every process the call started (timeout or not) and release what it held; idempotent."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.end_all:
            self.oom_killed = self.read_oom()
        for step in self.end_all:
            step()
        self.end_all = []
        self.process.wait()
        if self.report_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.report_fd)
            self.report_fd = None


def runner_argv(runner: str, report_fd: int, limits: Limits, cpu_seconds: int, file_bytes: int) -> list[str]:
    """The runner as ``python -I -c SOURCE`` arguments (the interpreter comes first, chosen by the backend)."""
    return ["-I", "-c", runner, str(report_fd), str(limits.memory_bytes), str(cpu_seconds), str(file_bytes),
            str(limits.max_processes)]


def _popen(command: list[str], pass_fds: tuple[int, ...] = (), env: dict[str, str] | None = None,
           cwd: str | None = None) -> subprocess.Popen:
    """Start ``command`` in its own session with all three standard streams as pipes."""
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            pass_fds=pass_fds, env=env if env is not None else {"PATH": "/usr/bin:/bin"}, cwd=cwd,
                            start_new_session=True)


def _limiter(limits: Limits, command: list[str]) -> tuple[list[str], str, cgroups.DirectCgroup | None]:
    """``command`` inside a total memory/process limit where one can be had, and a description of it."""
    total = (limits.memory_bytes, limits.max_processes + 2)  # + the sandbox's own (bwrap and its init)
    if cgroups.systemd_scope_works():
        return cgroups.systemd_scope(command, *total), cgroups.describe_systemd(*total), None
    group = cgroups.DirectCgroup.create(*total)
    if group is not None:
        return group.wrap(command), group.describe(*total), group
    processes = ("process count NOT capped: the kernel exempts host root from RLIMIT_NPROC" if os.geteuid() == 0
                 else f"{limits.max_processes} processes")
    per_process = f"per process: {limits.memory_bytes >> 20} MiB address space; {processes}"
    return command, f"rlimits only ({per_process}; no cgroup available)", None


def _own_process_pipe() -> tuple[int, int]:
    """A pipe whose read end stays in the parent (close-on-exec) and whose write end the child inherits."""
    read, write = os.pipe()
    os.set_inheritable(write, True)
    return read, write


class Bubblewrap:
    """Linux namespaces through ``bwrap``, with a cgroup for the totals where one is available."""

    name = "bubblewrap"
    network = "none: an empty network namespace (no interface, not even loopback)"

    def unavailable_reason(self) -> str | None:
        """None if ``bwrap`` runs Python here, else why not."""
        return _bubblewrap_probe(sys.executable)

    def start(self, runner: str, limits: Limits, cpu_seconds: int, file_bytes: int) -> Call:
        report_read, report_write = _own_process_pipe()
        info_read, info_write = _own_process_pipe()
        etc, (filter_fd, filter_text) = [_data_fd(_PASSWD), _data_fd(_GROUP)], _seccomp_fd()
        files = (*etc, *([] if filter_fd is None else [filter_fd]))
        command = [*bubblewrap_command(info_write, etc, limits.disk_bytes, filter_fd), sys.executable,
                   *runner_argv(runner, report_write, limits, cpu_seconds, file_bytes)]
        command, limits_text, group = _limiter(limits, command)
        limits_text += f"; {filter_text}"
        try:
            process = _popen(command, pass_fds=(report_write, info_write, *files))
        except OSError:
            os.close(report_read)
            os.close(info_read)
            if group is not None:
                group.remove()
            raise
        finally:
            for fd in (report_write, info_write, *files):
                os.close(fd)
        call = Call(process, report_read, limits_text)
        first = _first_process(info_read)
        os.close(info_read)
        if first is not None:
            call.end_all.append(lambda: _kill_and_wait(first))
        if group is not None:
            call.end_all.append(group.remove)
            call.read_oom = group.oom_killed
        return call


def bubblewrap_command(info_fd: int, etc_fds: list[int], disk_bytes: int, seccomp_fd: int | None = None) -> list[str]:
    """``bwrap`` arguments up to (not including) the program: namespaces, read-only Python, private tmpfs.

    ``seccomp_fd``: a file descriptor holding the seccomp program (:func:`_seccomp_fd`), or None for no filter.
    """
    command = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
               "--cap-drop", "ALL", "--uid", str(_SANDBOX_UID), "--gid", str(_SANDBOX_UID), "--hostname", "sandbox",
               "--info-fd", str(info_fd), "--ro-bind", "/usr", "/usr"]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    for path in python_paths():
        command += ["--ro-bind", path, path]
    command += ["--dir", "/etc", "--ro-bind-data", str(etc_fds[0]), "/etc/passwd",
                "--ro-bind-data", str(etc_fds[1]), "/etc/group"]
    if os.path.exists("/etc/ld.so.cache"):
        command += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    # /proc and /dev read-only: run by root, the sandbox's uid maps to host uid 0, which the kernel lets write
    # global sysctls (/proc/sys) and /proc/sysrq-trigger whatever the capabilities; bubblewrap only covers
    # what looks writable. The writable places are size-capped tmpfs mounts.
    command += ["--proc", "/proc", "--remount-ro", "/proc", "--dev", "/dev", "--size", str(disk_bytes), "--tmpfs",
                "/dev/shm", "--remount-ro", "/dev", "--size", str(disk_bytes), "--tmpfs", "/tmp",
                "--size", str(disk_bytes), "--tmpfs", WORKDIR, "--chdir", WORKDIR, "--clearenv"]
    for key, value in {"PATH": "/usr/bin:/bin", "HOME": WORKDIR, "TMPDIR": WORKDIR, "LANG": "C.UTF-8",
                       **_THREAD_ENV}.items():
        command += ["--setenv", key, value]
    return [*command, "--remount-ro", "/"]


def python_paths() -> list[str]:
    """What the interpreter needs, to bind read-only: its prefixes, its executable and the site-packages it imports from.

    Not the working directory, not the project's sources, not the home directory around them.
    """
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(sys.executable), *site.getsitepackages()}
    candidates |= {entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))}
    directories = {path for path in candidates if os.path.isdir(path)}
    directories |= {os.path.realpath(path) for path in directories}  # a venv's python links into its base
    kept: list[str] = []
    for path in sorted(directories, key=len):  # parents first; /usr is bound already
        if path != "/" and not any(path == top or path.startswith(top + "/") for top in ["/usr", *kept]):
            kept.append(path)
    return kept


_PASSWD = f"sandbox:x:{_SANDBOX_UID}:{_SANDBOX_UID}:python tool:{WORKDIR}:/usr/sbin/nologin\n"
_GROUP = f"sandbox:x:{_SANDBOX_UID}:\n"


def _data_fd(data: str | bytes) -> int:
    """A pipe's read end holding ``data`` (small: it fits the pipe buffer), for ``--ro-bind-data`` or ``--seccomp``."""
    read, write = _own_process_pipe()
    os.set_inheritable(read, True)
    os.write(write, data.encode() if isinstance(data, str) else data)
    os.close(write)
    return read


def _seccomp_fd() -> tuple[int | None, str]:
    """A pipe holding the seccomp program for ``bwrap --seccomp`` (None where this machine has no table for it),
    and what it refuses, in words."""
    arch = seccomp.host_architecture()
    if arch is None:
        return None, "no seccomp filter (no syscall table for this machine)"
    return _data_fd(seccomp.program()), seccomp.describe(arch)


def _first_process(info_fd: int) -> int | None:
    """A pidfd for the sandbox's first process (pid 1 of its namespace), from bubblewrap's ``--info-fd`` JSON."""
    try:
        pid = int(json.loads(read_available(info_fd, 4096, 10.0))["child-pid"])
        return os.pidfd_open(pid)
    except (ValueError, KeyError, TypeError, OSError, AttributeError):  # bwrap failed early; finish() still kills it
        return None


def _kill_and_wait(pidfd: int) -> None:
    """SIGKILL the namespace's first process and wait (up to 10 s) until it, and with it every process in it, is gone."""
    with contextlib.suppress(ProcessLookupError, OSError):
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    select.select([pidfd], [], [], 10)  # readable once the process has exited: after all its namespace
    os.close(pidfd)


@functools.cache
def _bubblewrap_probe(executable: str) -> str | None:
    """Start the interpreter under the full set of bubblewrap options once; why that fails, or None."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap needs Linux"
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    info_read, info_write = _own_process_pipe()
    etc, (filter_fd, _) = [_data_fd(_PASSWD), _data_fd(_GROUP)], _seccomp_fd()
    files = (*etc, *([] if filter_fd is None else [filter_fd]))
    command = [*bubblewrap_command(info_write, etc, 1 << 20, filter_fd), executable, "-I", "-c", "import json"]
    try:
        probe = subprocess.run(command, capture_output=True, pass_fds=(info_write, *files), timeout=30,
                               env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not start: {error}"
    finally:
        for fd in (info_read, info_write, *files):
            os.close(fd)
    if probe.returncode != 0:
        detail = probe.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap failed here ({detail[-1] if detail else f'exit status {probe.returncode}'}); " \
               "unprivileged user namespaces may be disabled"
    return None


class Docker:
    """A throwaway container per call (like OpenAI's reference python tool), through the ``docker`` command."""

    name = "docker"
    network = "none: docker --network none"

    def __init__(self, image: str = "python:3.11-slim"):
        self.image = image

    def unavailable_reason(self) -> str | None:
        """None if a Docker daemon answers and has the image, else why not."""
        return _docker_probe(self.image)

    def command(self, runner: str, limits: Limits, cpu_seconds: int, file_bytes: int, name: str) -> list[str]:
        """The ``docker run`` line; the runner reports on stderr (fd 2), as ``docker run`` passes no other fd."""
        memory = str(limits.memory_bytes)
        # --init: a tiny init is PID 1, so the runner gets ordinary signal semantics (PID 1 ignores its own SIGKILL)
        return ["docker", "run", "--rm", "-i", "--init", "--name", name, "--network", "none", "--memory", memory,
                "--memory-swap", memory, "--pids-limit", str(limits.max_processes), "--read-only",
                "--tmpfs", f"{WORKDIR}:rw,size={limits.disk_bytes},mode=1777", "--shm-size", str(limits.disk_bytes),
                "--workdir", WORKDIR,
                "--user", "65534:65534", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "--env", f"HOME={WORKDIR}", *(arg for key, value in _THREAD_ENV.items() for arg in ("--env", f"{key}={value}")),
                self.image, "python", *runner_argv(runner, 2, limits, cpu_seconds, file_bytes)]

    def start(self, runner: str, limits: Limits, cpu_seconds: int, file_bytes: int) -> Call:
        name = f"gptoss-python-{uuid.uuid4().hex[:12]}"
        process = _popen(self.command(runner, limits, cpu_seconds, file_bytes, name), env=dict(os.environ))
        text = f"docker (container: {limits.memory_bytes >> 20} MiB, {limits.max_processes} processes)"
        return Call(process, None, text, end_all=[lambda: _docker_kill(name)])


def _docker_kill(name: str) -> None:
    """Kill the container (killing the ``docker`` client alone would leave it running)."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(["docker", "kill", name], capture_output=True, timeout=30)


@functools.cache
def _docker_probe(image: str) -> str | None:
    """Why Docker cannot run ``image`` here, or None."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    try:
        server = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, timeout=10)
        if server.returncode != 0:
            return "no Docker daemon is reachable (docker version could not reach the server)"
        image_present = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"docker did not answer: {error}"
    if image_present.returncode != 0:
        return f"the image {image} is not present (docker pull {image})"
    return None


class Unisolated:
    """No isolation: the model's code runs as you, with your files and your network. Per-process limits only."""

    name = "unisolated"
    network = "YOUR network: unisolated, nothing blocks it"

    def unavailable_reason(self) -> str | None:
        return None if hasattr(os, "fork") else "needs a POSIX system"

    def start(self, runner: str, limits: Limits, cpu_seconds: int, file_bytes: int) -> Call:
        import tempfile  # the working directory is a real folder on your disk here

        workdir = tempfile.mkdtemp(prefix="python-tool-")
        report_read, report_write = _own_process_pipe()
        command = [sys.executable, *runner_argv(runner, report_write, limits, cpu_seconds, file_bytes)]
        command, limits_text, group = _limiter(limits, command)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir, "LANG": "C.UTF-8", **_THREAD_ENV}
        try:
            process = _popen(command, pass_fds=(report_write,), env=env, cwd=workdir)
        except OSError:
            os.close(report_read)
            shutil.rmtree(workdir, ignore_errors=True)
            if group is not None:
                group.remove()
            raise
        finally:
            os.close(report_write)
        call = Call(process, report_read, limits_text, end_all=[lambda: shutil.rmtree(workdir, ignore_errors=True)])
        if group is not None:
            call.end_all.insert(0, group.remove)
            call.read_oom = group.oom_killed
        return call


BACKENDS: dict[str, Callable[[], Bubblewrap | Docker | Unisolated]] = {
    "bubblewrap": Bubblewrap, "docker": Docker, "unisolated": Unisolated,
}
