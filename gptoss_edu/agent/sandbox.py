"""The python tool: run the model's code in a locked-down child process.

What is enforced, for every call (see :mod:`gptoss_edu.agent.sandbox_child` for how):

* a separate process (``python -I``: no user site, no ``PYTHON*`` variables) with a
  minimal environment, started in its own session so the whole group can be killed;
* a wall-clock timeout (the process group is killed with ``SIGKILL``), with
  ``RLIMIT_CPU`` as a backstop;
* a memory cap (``RLIMIT_AS``: allocations past it raise ``MemoryError``);
* no network: an empty network namespace where the kernel permits one, and in any case
  an audit hook refusing IPv4/IPv6 sockets, name lookups and subprocesses
  (:attr:`ExecutionResult.network` says which barriers were in place);
* a throwaway working directory (deleted afterwards), and ``RLIMIT_FSIZE`` on every
  file written, stdout and stderr included;
* output (stdout, the last expression's value, errors) truncated to a character budget.

This needs a POSIX system (``resource``). On Linux every limit above is enforced; elsewhere a
limit the system refuses (macOS refuses ``RLIMIT_AS``) is listed in
:attr:`ExecutionResult.refused_limits` rather than silently assumed.

Each call is a fresh process: no state carries from one call to the next, which is
what :meth:`PythonSandbox.tool_config` tells the model (instead of the stateful
Jupyter wording of harmony's default python section).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gptoss_edu.agent import sandbox_child
from gptoss_edu.harmony import DeveloperContent, SystemContent, ToolNamespaceConfig


@dataclass(frozen=True)
class SandboxLimits:
    """Limits applied to each run; ``output_chars`` bounds the text returned to the model."""

    timeout_s: float = 10.0
    memory_bytes: int = 1 << 30
    file_bytes: int = 4 << 20
    output_chars: int = 4000


@dataclass
class ExecutionResult:
    """What one run produced (before truncation) and how it ended.

    ``network`` names the network barriers in place; ``refused_limits`` lists the resource
    limits the operating system would not set (empty on Linux; macOS refuses ``RLIMIT_AS``).
    """

    stdout: str
    stderr: str
    value: str | None
    error: str | None
    timed_out: bool
    returncode: int
    network: str
    refused_limits: list[str]

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


class PythonSandbox:
    """The ``python`` tool namespace: ``sandbox("", code) -> output text``, one fresh process per call."""

    namespace = "python"

    def __init__(self, limits: SandboxLimits | None = None):
        self.limits = limits or SandboxLimits()

    def __call__(self, name: str, payload: str) -> str:
        """Run ``payload`` as Python and format the result for the model (``name`` is unused: no functions)."""
        return self.run(payload).to_text(self.limits.output_chars)

    def run(self, code: str) -> ExecutionResult:
        """Execute ``code`` under the limits and collect everything it produced."""
        with tempfile.TemporaryDirectory(prefix="python-tool-") as workdir, \
                tempfile.TemporaryDirectory(prefix="python-tool-io-") as iodir:
            io = Path(iodir)
            with open(io / "stdout", "wb") as stdout, open(io / "stderr", "wb") as stderr:
                returncode, timed_out = self._spawn(code, workdir, io / "result.json", stdout, stderr)
            report = _read_report(io / "result.json")
            error = report.get("error")
            if timed_out:
                error = f"TimeoutError: execution exceeded {self.limits.timeout_s:g} s and was killed"
            elif error is None and returncode != 0:
                error = _exit_explanation(returncode)
            return ExecutionResult(
                stdout=_read_text(io / "stdout"), stderr=_read_text(io / "stderr"), value=report.get("value"),
                error=error, timed_out=timed_out, returncode=returncode, network=report.get("network", "unknown"),
                refused_limits=report.get("refused_limits", []),
            )

    def tool_config(self) -> ToolNamespaceConfig:
        """The system message's ``## python`` section, describing this sandbox truthfully."""
        description = (
            "Use this tool to execute Python code in your chain of thought. The code will not be shown to the user.\n\n"
            "When you send a message containing Python code to python, it runs in a fresh, stateless process "
            f"(nothing is kept between calls) and python responds with the printed output, the value of the last "
            f"expression and any error, or times out after {self.limits.timeout_s:g} seconds. "
            f"Memory is limited to {self.limits.memory_bytes >> 20} MiB. There is no internet access."
        )
        return ToolNamespaceConfig(name="python", description=description, tools=[])

    def add_to_prompt(self, system: SystemContent, developer: DeveloperContent) -> None:
        """Declare the tool in the system message's ``# Tools`` section."""
        system.with_tools(self.tool_config())

    def _spawn(self, code: str, workdir: str, result: Path, stdout, stderr) -> tuple[int, bool]:
        """Start the child in its own session, feed it the code, kill its group at the timeout."""
        limits = self.limits
        command = [
            sys.executable, "-I", sandbox_child.__file__, str(result), str(limits.memory_bytes),
            str(int(limits.timeout_s) + 1), str(limits.file_bytes),
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir, "LANG": "C.UTF-8"}
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, cwd=workdir, env=env, start_new_session=True,
        )
        try:
            process.communicate(code.encode("utf-8"), timeout=limits.timeout_s)
            return process.returncode, False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return process.returncode, True


def _read_report(path: Path) -> dict:
    """The child's JSON report, or an empty one if it died before writing it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _read_text(path: Path) -> str:
    """A captured stream as text (undecodable bytes replaced)."""
    return path.read_bytes().decode("utf-8", errors="replace")


def _exit_explanation(returncode: int) -> str:
    """Why the child ended without a report: a signal (memory, CPU) or an exit status."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return f"the process was killed by {name} (CPU or memory limit reached?)"
    return f"the process exited with status {returncode}"
