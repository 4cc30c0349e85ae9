"""The child side of the python tool: lock the process down, run the code, report.

Run as ``python -I sandbox_child.py RESULT_FILE MEMORY_BYTES CPU_SECONDS FILE_BYTES`` with
the code on stdin, by :class:`gptoss_edu.agent.sandbox.PythonSandbox` (which also sets the
working directory, the environment and the wall-clock timeout). Standard library only:
this file runs before anything of the project can be trusted to import.

In order, before the model's code runs:

1. resource limits: address space (``RLIMIT_AS``, so big allocations raise
   ``MemoryError``), CPU seconds (``RLIMIT_CPU``, a backstop to the parent's timeout),
   size of any file written (``RLIMIT_FSIZE``, which also caps stdout/stderr, as those
   are files), no core dumps;
2. network: a fresh, empty network namespace via ``unshare(CLONE_NEWNET)``, or with a
   new user namespace when that is what the kernel permits; inside it no interface is
   up, so even 127.0.0.1 is unreachable;
3. an audit hook (PEP 578) that refuses IPv4/IPv6 sockets, name lookups and starting
   processes, in every case. It is the only network barrier when no namespace could be
   created; it is a guard rail, not a security boundary (``ctypes`` can get around it).

The code's last statement, if it is an expression, is evaluated and its ``repr``
reported, like a notebook cell's ``Out``.
"""
from __future__ import annotations

import ast
import contextlib
import ctypes
import json
import linecache
import resource
import signal
import socket
import sys
import traceback

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_BLOCKED_EVENTS = {"socket.getaddrinfo", "socket.gethostbyname", "subprocess.Popen", "os.system", "os.exec",
                   "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn"}
_INET_FAMILIES = {socket.AF_INET, socket.AF_INET6}
_FILENAME = "<python-tool>"
_MAX_VALUE_CHARS = 100_000  # the parent trims further to its own output budget


def limit_resources(memory_bytes: int, cpu_seconds: int, file_bytes: int) -> list[str]:
    """Apply the hard limits; return the names of those this system refused (none on Linux).

    An oversized write then fails with ``OSError`` instead of killing the process with a signal.
    """
    refused = []
    for name, limit in (("RLIMIT_AS", memory_bytes), ("RLIMIT_CPU", cpu_seconds), ("RLIMIT_FSIZE", file_bytes),
                        ("RLIMIT_CORE", 0)):
        try:
            resource.setrlimit(getattr(resource, name), (limit, limit))
        except (AttributeError, ValueError, OSError):  # e.g. macOS refuses RLIMIT_AS
            refused.append(name)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    return refused


def isolate_network() -> str:
    """Enter an empty network namespace if the kernel lets us; name the barrier in place."""
    unshare = getattr(ctypes.CDLL(None, use_errno=True), "unshare", None)  # Linux only
    for flags, name in ((_CLONE_NEWNET, "network namespace"), (_CLONE_NEWUSER | _CLONE_NEWNET, "user+network namespace")):
        if unshare is not None and unshare(flags) == 0:
            return f"{name} + audit hook"
    return "audit hook only"


def _audit(event: str, args: tuple) -> None:
    """Refuse network and process events (PEP 578 hook)."""
    if event in _BLOCKED_EVENTS:
        raise PermissionError(f"{event} is disabled in the python tool (no network, no subprocesses)")
    if event == "socket.__new__" and args[1] in _INET_FAMILIES:
        raise PermissionError("network sockets are disabled in the python tool")
    if event in ("socket.connect", "socket.bind", "socket.sendto") and args[0].family in _INET_FAMILIES:
        raise PermissionError(f"{event} is disabled in the python tool")


def run_code(code: str) -> tuple[str | None, str | None]:
    """Execute ``code`` as ``__main__``; return (repr of the last expression, formatted error)."""
    linecache.cache[_FILENAME] = (len(code), None, code.splitlines(keepends=True), _FILENAME)  # source in tracebacks
    try:
        tree = ast.parse(code, filename=_FILENAME)
    except SyntaxError as error:
        return None, "".join(traceback.format_exception_only(type(error), error))
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    try:
        exec(compile(tree, _FILENAME, "exec"), namespace)
        if last is None:
            return None, None
        value = eval(compile(ast.Expression(last.value), _FILENAME, "eval"), namespace)
        return (None if value is None else repr(value)[:_MAX_VALUE_CHARS]), None
    except BaseException as error:  # report everything, SystemExit and KeyboardInterrupt included
        return None, format_error(error)


def format_error(error: BaseException) -> str:
    """A traceback of the model's code and the library frames it called, without this runner's frames."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename != __file__]
    lines = traceback.format_list(frames) if frames else []
    header = ["Traceback (most recent call last):\n"] if lines else []
    return "".join(header + lines + traceback.format_exception_only(type(error), error))


def main() -> None:
    """Limit, isolate, run, and write ``{"value", "error", "network", "refused_limits"}`` as JSON to the result file."""
    result_file, memory_bytes, cpu_seconds, file_bytes = sys.argv[1], *map(int, sys.argv[2:5])
    code = sys.stdin.read()
    network = isolate_network()
    sys.addaudithook(_audit)
    refused = limit_resources(memory_bytes, cpu_seconds, file_bytes)
    value, error = run_code(code)
    with contextlib.suppress(OSError, ValueError):  # the code may have closed or overfilled stdout
        sys.stdout.flush()
    with open(result_file, "w", encoding="utf-8") as handle:
        json.dump({"value": value, "error": error, "network": network, "refused_limits": refused}, handle)


if __name__ == "__main__":
    main()
