"""The child side of the python tool: set per-process limits, run the model's code, report value and error.

The parent (:class:`gptoss_edu.agent.sandbox.PythonSandbox`) reads this file's source once and
runs it as ``python -I -c SOURCE REPORT_FD MEMORY_BYTES CPU_SECONDS FILE_BYTES MAX_PROCESSES``
inside the isolation backend, with the code on stdin. Standard library only: inside the
sandbox nothing of the project is mounted.

This runner is *not* a security boundary and holds no secret: the model's code runs in the
same process and can do anything this file does (rewrite its report, lift soft limits...). The
boundary is the backend around the process (namespaces, cgroups, read-only mounts). The parent
therefore reads from here only the two things the code could print anyway: the ``repr`` of the
last expression and the formatted error. Status, timing and limits are measured by the parent.

The per-process limits set here (hard limits: the code cannot raise them again) are:
address space (``RLIMIT_AS``, so big allocations raise ``MemoryError``), CPU seconds, size of
any file written, no core dumps, and the number of processes (``RLIMIT_NPROC``, which the
kernel counts per user namespace, so inside a fresh one it counts this call's processes; it
ignores the limit when the sandbox's uid maps to host root, which is why a cgroup is preferred).
"""
from __future__ import annotations

import ast
import contextlib
import json
import linecache
import os
import resource
import signal
import sys
import traceback

_FILENAME = "<python-tool>"
_MAX_VALUE_CHARS = 100_000  # the parent trims further to its own output budget
_MAX_ERROR_CHARS = 20_000  # a huge message keeps its head and its last lines (the exception itself)


def limit_resources(memory_bytes: int, cpu_seconds: int, file_bytes: int, max_processes: int) -> list[str]:
    """Apply the hard limits; return the names of those this system refused (macOS refuses ``RLIMIT_AS``)."""
    refused = []
    for name, limit in (("RLIMIT_AS", memory_bytes), ("RLIMIT_CPU", cpu_seconds), ("RLIMIT_FSIZE", file_bytes),
                        ("RLIMIT_CORE", 0), ("RLIMIT_NPROC", max_processes)):
        try:
            resource.setrlimit(getattr(resource, name), (limit, limit))
        except (AttributeError, ValueError, OSError):
            refused.append(name)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write raises OSError instead of killing
    return refused


def clip(text: str, limit: int) -> str:
    """``text`` if short enough, else its head and tail around a note of how much was cut."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def run_code(code: str) -> tuple[str | None, str | None]:
    """Execute ``code`` as ``__main__``; return (repr of the last expression, formatted error)."""
    linecache.cache[_FILENAME] = (len(code), None, code.splitlines(keepends=True), _FILENAME)  # source in tracebacks
    try:
        tree = ast.parse(code, filename=_FILENAME)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        body = compile(tree, _FILENAME, "exec")
        tail = compile(ast.Expression(last.value), _FILENAME, "eval") if last is not None else None
    except BaseException as error:  # SyntaxError, and RecursionError/MemoryError on absurdly deep code
        return None, clip("".join(traceback.format_exception_only(type(error), error)), _MAX_ERROR_CHARS)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(body, namespace)
        value = eval(tail, namespace) if tail is not None else None
        return (None if value is None else clip(repr(value), _MAX_VALUE_CHARS)), None
    except BaseException as error:  # report everything, SystemExit and KeyboardInterrupt included
        return None, clip(format_error(error), _MAX_ERROR_CHARS)


def format_error(error: BaseException) -> str:
    """A traceback of the model's code and the library frames it called, without this runner's frames."""
    try:
        frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename != "<string>"]
        lines = traceback.format_list(frames[-50:]) if frames else []
        header = ["Traceback (most recent call last):\n"] if lines else []
        return "".join(header + lines + traceback.format_exception_only(type(error), error))
    except BaseException:  # e.g. a __str__ that raises: still name the exception
        return f"{type(error).__name__} (its message could not be formatted)\n"


def main() -> None:
    """Read the code, limit this process, run the code and write ``{"value", "error", "refused_limits"}`` to the report fd."""
    report_fd, memory_bytes, cpu_seconds, file_bytes, max_processes = map(int, sys.argv[1:6])
    code = sys.stdin.read()
    refused = limit_resources(memory_bytes, cpu_seconds, file_bytes, max_processes)
    value, error = run_code(code)
    with contextlib.suppress(BaseException):  # the code may have closed or overfilled stdout
        sys.stdout.flush()
    report = json.dumps({"value": value, "error": error, "refused_limits": refused}).encode()
    with contextlib.suppress(OSError):  # the code may have closed the report fd: the parent copes
        os.write(report_fd, b"\0gptoss-report\0" + report)
        os.close(report_fd)


if __name__ == "__main__":
    main()
