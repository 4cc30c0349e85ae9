"""Talking to a sandboxed child without trusting it: pipes only, bounded in bytes and in time.

No file is shared with the child (a file could be swapped for a FIFO that never ends or a
symlink to ``/dev/zero``). The parent writes the code to the child's stdin from a helper thread
and reads stdout, stderr and the report pipe with ``select`` until every pipe is closed or the
deadline passes. Each stream keeps its first ``head`` bytes and its last ``tail`` bytes; what
lies between is counted and dropped, so a child printing forever costs bounded memory and is
still drained (it never blocks on a full pipe and so ends when its code ends).
"""
from __future__ import annotations

import contextlib
import os
import selectors
import threading
import time
from dataclasses import dataclass, field

REPORT_MARKER = b"\0gptoss-report\0"


@dataclass
class Capture:
    """The bounded record of one stream: head, tail and the number of bytes dropped between them."""

    head_limit: int
    tail_limit: int = 0
    head: bytearray = field(default_factory=bytearray)
    tail: bytearray = field(default_factory=bytearray)
    dropped: int = 0

    def add(self, chunk: bytes) -> None:
        room = self.head_limit - len(self.head)
        self.head += chunk[:max(room, 0)]
        rest = chunk[max(room, 0):]
        if not rest:
            return
        self.tail += rest
        overflow = len(self.tail) - self.tail_limit
        if overflow > 0:
            del self.tail[:overflow]
            self.dropped += overflow

    def data(self) -> bytes:
        """Head and tail joined (the dropped middle is gone; see :meth:`text` for the marked version)."""
        return bytes(self.head + self.tail)

    def text(self) -> str:
        """The captured stream as text, with a note where bytes were dropped."""
        note = f"\n[... {self.dropped} bytes dropped ...]\n".encode() if self.dropped else b""
        return (bytes(self.head) + note + bytes(self.tail)).decode("utf-8", errors="replace")


def feed(fd: int, data: bytes) -> threading.Thread:
    """Write ``data`` to ``fd`` and close it, from a daemon thread (a child that never reads cannot block us)."""
    def write() -> None:
        with contextlib.suppress(OSError):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        with contextlib.suppress(OSError):
            os.close(fd)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def collect(streams: dict[int, Capture], deadline: float) -> bool:
    """Read every fd in ``streams`` into its capture until all reach end of file; False if the deadline came first."""
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for key, _ in selector.select(remaining):
                try:
                    chunk = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if chunk:
                    streams[key.fd].add(chunk)
                else:
                    selector.unregister(key.fd)
    return True


def read_available(fd: int, limit: int, wait_s: float) -> bytes:
    """Up to ``limit`` bytes from ``fd`` until end of file or ``wait_s`` seconds, whichever comes first."""
    capture = Capture(limit)
    collect({fd: capture}, time.monotonic() + wait_s)
    return capture.data()


def split_report(data: bytes) -> tuple[bytes, bytes | None]:
    """``(data before the runner's report, the report)``: the report follows the last marker, if any."""
    before, marker, report = data.rpartition(REPORT_MARKER)
    return (before, report) if marker else (data, None)
