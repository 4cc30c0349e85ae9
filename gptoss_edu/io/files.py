"""Opening files from folders we did not write: regular files inside the folder, bounded JSON.

A checkpoint folder may come from a stranger. Its index can name any path, its shards can
be symbolic links, named pipes or devices, and its JSON can be nested a million deep. The
rules here turn each of those into a ``FolderError`` that names the file:

- ``inside(folder, name)``: ``name`` must be a plain relative name (no absolute path, no
  ``..``); after resolving symbolic links the file must still be inside ``folder`` (or, for
  a Hugging Face cache snapshot, inside that repository's ``blobs/``), and ``lstat``/``stat``
  must say *regular file* before anything is opened. A FIFO is never opened.
- ``open_regular(path)``: ``stat`` first, then opens without blocking and checks again with
  ``fstat`` (the file may have been swapped for a FIFO since the first check).
- ``read_json(path, max_bytes)``: a size limit before reading, a nesting limit after parsing,
  and every parser failure (depth, 5000-digit numbers) reported with the file's name.

Writers that build a file or folder under a temporary name use ``partial_name``; the
leftovers of an interrupted run are removed by ``remove_stale_partials`` once the process
that made them is gone.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path, PurePosixPath

MAX_JSON_DEPTH = 32  # config.json and safetensors headers nest 3 deep
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


class FolderError(ValueError):
    """A file of a folder is not a regular file inside it, or is not the JSON it should be."""


def plain_relative_name(name: object, where: str) -> str:
    """``name`` if it is a non-empty relative path without ``..``, ``.`` or backslashes; else ``FolderError``."""
    if not isinstance(name, str) or not name:
        raise FolderError(f"{where}: file name {name!r} is not a non-empty string")
    parts = PurePosixPath(name).parts
    drive = re.match(r"[A-Za-z]:", name)
    if name.startswith("/") or "\\" in name or "\0" in name or drive or any(p in ("..", ".") for p in parts):
        raise FolderError(f"{where}: file name {name!r} is not a plain name inside the folder "
                          "(absolute paths, '..' and drive letters are refused)")
    return name


def _allowed_roots(folder: Path) -> list[Path]:
    """The folder itself, plus ``blobs/`` when it lies in a Hugging Face cache snapshot (files link there)."""
    roots = [folder]
    for parent in folder.parents:
        if parent.name == "snapshots" and parent.parent.name.startswith("models--"):
            roots.append(parent.parent / "blobs")
            break
    return roots


def inside(folder: str | os.PathLike, name: str, where: str | None = None) -> Path:
    """``folder / name`` once it is known to be a regular file inside ``folder`` (see the module docstring).

    Raises ``FileNotFoundError`` when nothing is there, ``FolderError`` for anything else wrong.
    """
    shown = Path(folder)
    folder = shown.resolve()
    where = where or str(shown)
    plain_relative_name(name, where)
    path = shown / name
    os.lstat(path)  # FileNotFoundError for a missing file (a dangling link is caught below)
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):  # dangling link, or a loop of links
        raise FolderError(f"{path}: a symbolic link that leads nowhere") from None
    if not any(resolved.is_relative_to(root) for root in _allowed_roots(folder)):
        raise FolderError(f"{path}: links to {resolved}, outside the folder {folder}")
    _require_regular(resolved, os.stat(resolved).st_mode, path)
    return path


def _require_regular(path: Path, mode: int, shown: Path | None = None) -> None:
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a folder" if stat.S_ISDIR(mode) else "not a regular file")
        raise FolderError(f"{shown or path}: is {kind}, not a regular file")


def open_regular(path: str | os.PathLike):
    """Open ``path`` for binary reading only if it is a regular file; never blocks on a FIFO."""
    path = Path(path)
    _require_regular(path, os.stat(path).st_mode)  # refuse before opening
    fd = os.open(path, _OPEN_FLAGS)
    try:
        _require_regular(path, os.fstat(fd).st_mode)  # the same file we checked, not a swapped-in one
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_json(path: str | os.PathLike, max_bytes: int, what: str = "JSON file") -> object:
    """Parse a regular file of at most ``max_bytes`` as JSON nested at most ``MAX_JSON_DEPTH`` deep."""
    path = Path(path)
    with open_regular(path) as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise FolderError(f"{path}: more than {max_bytes} bytes, too large for a {what}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise FolderError(f"{path}: nested too deeply for a {what}") from None
    except (UnicodeDecodeError, ValueError) as e:  # also numbers with thousands of digits
        raise FolderError(f"{path}: not a valid {what} ({e})") from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise FolderError(f"{path}: nested more than {MAX_JSON_DEPTH} levels deep, not a {what}")
    return data


def json_depth(value: object) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


# ---- temporary names of writers --------------------------------------------------------------
def partial_name(target: str | os.PathLike, suffix: str = "partial") -> Path:
    """``DIR/.NAME.PID.partial``: where ``target`` is assembled before it is renamed into place."""
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}.{suffix}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # someone else's live process (or a number we cannot ask about): leave it
    return True


def remove_stale_partials(target: str | os.PathLike) -> list[Path]:
    """Remove ``.NAME.PID.partial`` / ``.old`` leftovers of ``target`` whose process is gone; return them.

    Only plain files and real folders with exactly that name pattern are touched (never a link,
    never another name), and never while the process that made them still runs.
    """
    target = Path(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d{{1,10}})\.(partial|old)")
    removed = []
    if not target.parent.is_dir():
        return removed
    for entry in target.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if not match or int(match.group(1)) == os.getpid() or _pid_alive(int(match.group(1))):
            continue
        mode = os.lstat(entry).st_mode
        if stat.S_ISDIR(mode):
            shutil.rmtree(entry)
        elif stat.S_ISREG(mode):
            entry.unlink()
        else:
            continue
        removed.append(entry)
    return removed
