"""A total memory and process-count limit for everything one python-tool call starts: a cgroup.

Per-process limits (``RLIMIT_AS``) do not bound the total: four forked children may each use
the full cap. A control group does: every process the call starts is charged to it, its
``tmpfs`` files included. Three ways to get one, tried in this order by the bubblewrap (and unisolated) backends:

1. ``systemd-run --user --scope -p MemoryMax=... -p TasksMax=...``: cgroup v2 delegated to an
   ordinary user by systemd (a desktop Linux session); the command runs inside the new scope.
2. :class:`DirectCgroup`: a cgroup created directly in a writable cgroup file system, which is
   what root has in a container or CI machine without systemd. Both cgroup v2 (one directory with
   ``memory.max``, ``memory.swap.max``, ``pids.max``) and the older v1 hierarchies (a ``memory``
   directory and a ``pids`` directory) are handled; the command joins it through a tiny ``sh``
   wrapper that writes its own pid to each ``cgroup.procs`` and then ``exec``\\ s the sandbox.
3. None: the runner's per-process ``RLIMIT_AS`` and ``RLIMIT_NPROC`` bound the total to
   ``processes x memory``. ``RLIMIT_NPROC`` is ignored for host root (the kernel exempts uid 0
   even inside a user namespace), so as root without a cgroup the process count is not capped;
   the pid namespace still ends every process when the call returns.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_REQUIRED = {"memory.max", "memory.limit_in_bytes", "pids.max"}
_JOIN = 'for procs; do [ "$procs" = -- ] && break; echo 0 > "$procs" || exit 125; shift; done; shift; exec "$@"'


@dataclass
class DirectCgroup:
    """One call's cgroup: the directories created (one for v2, ``memory`` and ``pids`` for v1) and its version."""

    directories: list[Path]
    version: int

    @classmethod
    def create(cls, memory_bytes: int, max_processes: int) -> DirectCgroup | None:
        """Create and configure a fresh cgroup under this process's own, or None where that is not allowed."""
        name = f"gptoss-python-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        v2 = _own_cgroup_dir("", {"memory", "pids"})
        if v2 is not None:
            return _configure(cls([v2 / name], 2), {"memory.max": memory_bytes, "memory.swap.max": 0,
                                                   "pids.max": max_processes})
        memory, pids = _own_cgroup_dir("memory", set()), _own_cgroup_dir("pids", set())
        if memory is None or pids is None:
            return None
        return _configure(cls([memory / name, pids / name], 1), {"memory.limit_in_bytes": memory_bytes,
                                                                "memory.memsw.limit_in_bytes": memory_bytes,
                                                                "pids.max": max_processes})

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` prefixed so that its process joins this cgroup before it starts anything."""
        procs = [str(directory / "cgroup.procs") for directory in self.directories]
        return ["/bin/sh", "-c", _JOIN, "sh", *procs, "--", *command]

    def describe(self, memory_bytes: int, max_processes: int) -> str:
        return f"cgroup v{self.version} (all processes together: {memory_bytes >> 20} MiB, {max_processes} processes)"

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this cgroup for memory (read by the parent, not reported by the child)."""
        events = "memory.events" if self.version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError, ValueError):
            for line in (self.directories[0] / events).read_text().splitlines():
                key, _, count = line.partition(" ")
                if key == "oom_kill" and int(count) > 0:
                    return True
        return False

    def remove(self) -> None:
        """Kill whatever is still in the cgroup, then delete its directories."""
        deadline = time.monotonic() + 5
        for directory in self.directories:
            while directory.exists():
                for pid in _pids(directory):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                try:
                    directory.rmdir()
                except OSError:  # busy until the killed processes are reaped
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.01)


def _configure(group: DirectCgroup, settings: dict[str, int]) -> DirectCgroup | None:
    """Create the directories and write the limits (files a kernel lacks, like v1 swap accounting, are skipped)."""
    try:
        for directory in group.directories:
            _remove_stale(directory.parent)
            directory.mkdir()
    except OSError:
        group.remove()
        return None
    for directory in group.directories:
        for key, value in settings.items():
            if not (directory / key).exists():  # a v1 directory has only its controller's files
                continue
            try:
                (directory / key).write_text(str(value))
            except OSError:  # swap accounting is optional; the memory and process limits are not
                if key in _REQUIRED:
                    group.remove()
                    return None
    return group


def _remove_stale(parent: Path) -> None:
    """Delete empty cgroups left by a parent process that died mid-call (their name holds its pid)."""
    for stale in parent.glob("gptoss-python-*-*"):
        pid = stale.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and not _pids(stale):
            with contextlib.suppress(OSError):
                stale.rmdir()


def _own_cgroup_dir(controller: str, needs: set[str]) -> Path | None:
    """The writable directory of this process's cgroup for ``controller`` ("" for v2), or None."""
    mount = _mount_point(controller)
    if mount is None:
        return None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller == "" and controllers == "") or controller in controllers.split(","):
            directory = mount / path.lstrip("/")
            break
    else:
        return None
    if needs:
        enabled = set((directory / "cgroup.subtree_control").read_text().split()) if directory.exists() else set()
        if not needs <= enabled:
            return None
    return directory if os.access(directory, os.W_OK) else None


def _mount_point(controller: str) -> Path | None:
    """Where the cgroup v2 hierarchy (``controller == ""``) or the v1 hierarchy of ``controller`` is mounted."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            _, where, kind, options, *_ = line.split()
            if controller == "" and kind == "cgroup2":
                return Path(where)
            if controller and kind == "cgroup" and controller in options.split(","):
                return Path(where)
    return None


def _pids(directory: Path) -> list[int]:
    """The processes in a cgroup directory."""
    try:
        return [int(pid) for pid in (directory / "cgroup.procs").read_text().split()]
    except OSError:
        return []


@functools.cache
def systemd_scope_works() -> bool:
    """Whether ``systemd-run --user --scope`` can start a scope here (a user session with a systemd manager)."""
    if os.geteuid() == 0 or shutil.which("systemd-run") is None:
        return False
    try:
        probe = subprocess.run(["systemd-run", "--user", "--scope", "--quiet", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def systemd_scope(command: list[str], memory_bytes: int, max_processes: int) -> list[str]:
    """``command`` run in a transient systemd scope with a total memory and task limit (cgroup v2)."""
    return ["systemd-run", "--user", "--scope", "--quiet", "--collect", f"--property=MemoryMax={memory_bytes}",
            "--property=MemorySwapMax=0", f"--property=TasksMax={max_processes}", "--", *command]


def describe_systemd(memory_bytes: int, max_processes: int) -> str:
    return f"systemd scope, cgroup v2 (all processes together: {memory_bytes >> 20} MiB, {max_processes} processes)"
