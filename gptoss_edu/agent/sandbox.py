"""The python tool: run the model's code in a real sandbox, and never trust what comes back.

Model-written code is hostile until proven otherwise. Hand-made guards inside the process
(audit hooks, refusing ``import ctypes``) are not a boundary: the code runs in that process and
can switch them off. So the code runs inside an isolation engine chosen by
:mod:`gptoss_edu.agent.sandbox_backends`:

* ``"bubblewrap"`` (Linux): namespaces, a read-only Python, a private tmpfs, a cgroup for the
  total memory and process count, a seccomp filter (:mod:`gptoss_edu.agent.seccomp`);
* ``"docker"``: a throwaway container, where a Docker daemon is reachable;
* ``"unisolated"``: no isolation at all, only when asked for by that name (it warns once).

``backend="auto"`` (the default) takes the first of bubblewrap and Docker that works here and
refuses to run anything (:class:`SandboxUnavailable`) when neither does.

The parent stays in charge (:mod:`gptoss_edu.agent.sandbox_io`): results come back over pipes
read with a bound on bytes and time; the exit status, the timeout, the elapsed time and whether
the memory limit was hit are measured here, never taken from the child's report (the child's
report only carries the last expression's ``repr`` and the formatted error, text the code could
print anyway); and every process the call started is gone when :meth:`PythonSandbox.run`
returns, timeout or not.

Each call is a fresh process: no state carries from one call to the next, which is what
:meth:`PythonSandbox.tool_config` tells the model (instead of harmony's stateful Jupyter wording).
"""
from __future__ import annotations

import json
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from gptoss_edu.agent import sandbox_child
from gptoss_edu.agent.sandbox_backends import BACKENDS, Bubblewrap, Call, Docker, Unisolated
from gptoss_edu.agent.sandbox_io import Capture, collect, feed, split_report
from gptoss_edu.harmony import DeveloperContent, SystemContent, ToolNamespaceConfig

# Read once: rewriting the installed file later cannot change what the next call runs.
_RUNNER = Path(sandbox_child.__file__).read_text(encoding="utf-8")
_REPORT_BYTES = 1 << 18  # the runner's report holds at most a 100k-character value and a 20k-character error
_AUTO_ORDER = ("bubblewrap", "docker")


class SandboxUnavailable(RuntimeError):
    """No isolation backend works here, and the caller did not opt in to running code unisolated."""


class UnisolatedWarning(UserWarning):
    """The python tool runs model code with no isolation: it can read your files and use your network."""


@dataclass(frozen=True)
class SandboxLimits:
    """Limits applied to each run.

    ``memory_bytes`` and ``max_processes`` bound everything the call starts together (where a
    cgroup or Docker is available; else per process, see :attr:`ExecutionResult.limits`);
    ``file_bytes`` bounds each written file, ``disk_bytes`` the whole working directory;
    ``output_chars`` the text returned to the model.
    """

    timeout_s: float = 10.0
    memory_bytes: int = 1 << 30
    file_bytes: int = 4 << 20
    output_chars: int = 4000
    max_processes: int = 32
    disk_bytes: int = 64 << 20


@dataclass
class ExecutionResult:
    """What one run produced (before truncation) and how it ended, as measured by the parent.

    ``backend`` names the isolation engine that ran the code, ``network`` what the code could
    reach, ``limits`` how memory and process count were bounded (and, under bubblewrap, which
    system calls the seccomp filter refuses); ``returncode`` is negative for a
    death by signal; ``oom_killed`` is True/False where a cgroup reports it, else None;
    ``refused_limits`` lists per-process limits the system would not set (macOS refuses ``RLIMIT_AS``).
    """

    stdout: str
    stderr: str
    value: str | None
    error: str | None
    timed_out: bool
    returncode: int
    network: str
    refused_limits: list[str]
    backend: str = ""
    limits: str = ""
    elapsed_s: float = 0.0
    oom_killed: bool | None = None

    def to_text(self, budget: int) -> str:
        """The tool message for the model: stdout, value, stderr, error, cut to ``budget`` characters."""
        parts = [part for part in (self.stdout, self.value, self.stderr, self.error) if part]
        text = "\n".join(part.rstrip("\n") for part in parts)
        if not text:
            text = "[no output; print() something or end with an expression to see a value]"
        return truncate(text, budget)


def truncate(text: str, budget: int) -> str:
    """``text`` if it fits, else its head and a note of how many characters were dropped."""
    if len(text) <= budget:
        return text
    return f"{text[:budget]}\n[... {len(text) - budget} more characters truncated]"


def available_backends() -> dict[str, str | None]:
    """Each isolating backend and why it cannot run here (None: it can)."""
    return {name: BACKENDS[name]().unavailable_reason() for name in _AUTO_ORDER}


class PythonSandbox:
    """The ``python`` tool namespace: ``sandbox("", code) -> output text``, one fresh sandboxed process per call.

    ``backend`` is ``"auto"``, ``"bubblewrap"``, ``"docker"`` or ``"unisolated"`` (never chosen
    automatically; it warns once, when the sandbox is created).
    """

    namespace = "python"

    def __init__(self, limits: SandboxLimits | None = None, backend: str = "auto"):
        if backend != "auto" and backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose auto, {', '.join(BACKENDS)}")
        self.limits = limits or SandboxLimits()
        self.requested = backend
        self._backend: Bubblewrap | Docker | Unisolated | None = None
        if backend == "unisolated":
            warnings.warn("PythonSandbox(backend='unisolated'): model code will run with NO isolation; it can read "
                          "and change your files, use your network and leave processes behind. Install bubblewrap "
                          "(Linux) or Docker to sandbox it.", UnisolatedWarning, stacklevel=2)

    @property
    def backend(self) -> Bubblewrap | Docker | Unisolated:
        """The backend that runs the code (found on first use; raises :class:`SandboxUnavailable` if none)."""
        if self._backend is None:
            self._backend = self._choose()
        return self._backend

    def __call__(self, name: str, payload: str) -> str:
        """Run ``payload`` as Python and format the result for the model (``name`` is unused: no functions)."""
        return self.run(payload).to_text(self.limits.output_chars)

    def run(self, code: str) -> ExecutionResult:
        """Execute ``code`` under the limits in the backend; return what it produced and how it ended."""
        backend, limits = self.backend, self.limits
        started = time.monotonic()
        call = backend.start(_RUNNER, limits, int(limits.timeout_s) + 1, limits.file_bytes)
        stream_bytes = max(16 * limits.output_chars, 1 << 16)
        out, err = Capture(stream_bytes), Capture(stream_bytes, 0 if call.report_fd is not None else _REPORT_BYTES)
        report = Capture(_REPORT_BYTES)
        report_on_stderr = call.report_fd is None
        try:
            stdin = os.dup(call.process.stdin.fileno())
            call.process.stdin.close()
            feed(stdin, code.encode("utf-8", errors="replace"))
            streams = {call.process.stdout.fileno(): out, call.process.stderr.fileno(): err}
            if not report_on_stderr:
                streams[call.report_fd] = report
            deadline = started + limits.timeout_s
            timed_out = not collect(streams, deadline) or not _exited(call, deadline)
        finally:
            call.finish()
            call.process.stdout.close()
            call.process.stderr.close()
        if report_on_stderr:  # Docker: the runner's report ends stderr
            before, payload = split_report(err.data())
            stderr = before.decode("utf-8", errors="replace")
        else:
            payload, stderr = split_report(report.data())[1], err.text()
        return self._result(call, out.text(), stderr, _parse_report(payload), timed_out, time.monotonic() - started)

    def _result(self, call: Call, stdout: str, stderr: str, fields: dict, timed_out: bool,
                elapsed: float) -> ExecutionResult:
        """Assemble the result from what the parent measured and the child's (untrusted) text ``fields``."""
        returncode = _returncode(call.process.returncode, self.backend)
        oom_killed = call.oom_killed
        if timed_out:
            error = f"TimeoutError: execution exceeded {self.limits.timeout_s:g} s and was killed"
        elif returncode != 0 and not fields["error"]:
            error = _exit_explanation(returncode, oom_killed, self.limits)
        else:
            error = fields["error"]
        return ExecutionResult(
            stdout=stdout, stderr=stderr, value=fields["value"], error=error, timed_out=timed_out,
            returncode=returncode, network=self.backend.network, refused_limits=fields["refused_limits"],
            backend=self.backend.name, limits=call.limits_text, elapsed_s=elapsed, oom_killed=oom_killed,
        )

    def tool_config(self) -> ToolNamespaceConfig:
        """The system message's ``## python`` section, describing this sandbox truthfully."""
        network = ("The code is NOT isolated and can reach the network." if self.requested == "unisolated"
                   else "There is no internet access.")
        description = (
            "Use this tool to execute Python code in your chain of thought. The code will not be shown to the user.\n\n"
            "When you send a message containing Python code to python, it runs in a fresh, stateless process "
            f"(nothing is kept between calls) and python responds with the printed output, the value of the last "
            f"expression and any error, or times out after {self.limits.timeout_s:g} seconds. "
            f"Memory is limited to {self.limits.memory_bytes >> 20} MiB. {network}"
        )
        return ToolNamespaceConfig(name="python", description=description, tools=[])

    def add_to_prompt(self, system: SystemContent, developer: DeveloperContent) -> None:
        """Declare the tool in the system message's ``# Tools`` section."""
        system.with_tools(self.tool_config())

    def _choose(self) -> Bubblewrap | Docker | Unisolated:
        """The requested backend if it works, or the first working isolating one for ``"auto"``."""
        names = _AUTO_ORDER if self.requested == "auto" else (self.requested,)
        reasons = {}
        for name in names:
            backend = BACKENDS[name]()
            reasons[name] = backend.unavailable_reason()
            if reasons[name] is None:
                return backend
        detail = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
        raise SandboxUnavailable(f"refusing to run model code: no sandbox works here ({detail}). Install bubblewrap "
                                 "(Linux) or start Docker, or opt in knowingly with PythonSandbox(backend='unisolated').")


def _exited(call: Call, deadline: float) -> bool:
    """Wait for the process until ``deadline``; whether it exited by then."""
    try:
        call.process.wait(timeout=max(deadline - time.monotonic(), 0))
        return True
    except Exception:  # subprocess.TimeoutExpired
        return False


def _parse_report(report: bytes | None) -> dict:
    """The runner's value, error and refused limits, accepted only as the types they must have."""
    fields: dict = {"value": None, "error": None, "refused_limits": []}
    try:
        decoded = json.loads(report) if report else {}
    except ValueError:
        return fields
    if isinstance(decoded, dict):
        for key in ("value", "error"):
            if isinstance(decoded.get(key), str):
                fields[key] = decoded[key]
        limits = decoded.get("refused_limits")
        if isinstance(limits, list) and all(isinstance(name, str) for name in limits):
            fields["refused_limits"] = limits[:10]
    return fields


def _returncode(code: int | None, backend: Bubblewrap | Docker | Unisolated) -> int:
    """``-signal`` for a death by signal: bubblewrap and docker report those as ``128 + signal``."""
    if code is None:
        return -signal.SIGKILL
    if backend.name != "unisolated" and code > 128 and code - 128 in signal.valid_signals():
        return -(code - 128)
    return code


def _exit_explanation(returncode: int, oom_killed: bool | None, limits: SandboxLimits) -> str:
    """Why the child ended without reporting an error: the memory limit, another signal, or an exit status."""
    if oom_killed:
        return f"MemoryError: the processes together exceeded {limits.memory_bytes >> 20} MiB and were killed"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return f"the process was killed by {name} (CPU or memory limit reached?)"
    return f"the process exited with status {returncode}"
