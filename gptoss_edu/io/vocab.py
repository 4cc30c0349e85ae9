"""Find, check and read the o200k vocabulary file (``o200k_base.tiktoken``).

Where we look, in order: an explicit path; ``$GPTOSS_EDU_VOCAB`` (a file or a folder
holding ``o200k_base.tiktoken``); a classroom bundle named by ``$GPTOSS_EDU_BUNDLE``;
tiktoken's own cache (``$TIKTOKEN_CACHE_DIR``, ``$DATA_GYM_CACHE_DIR`` or the temp folder,
file named by the sha1 of the download address); ``$TIKTOKEN_ENCODINGS_BASE`` (what
openai-harmony reads). If none has it we download it into tiktoken's cache. Every file is
checked against the sha256 that tiktoken checks before we trust it.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import os
import tempfile
import urllib.request
from pathlib import Path

from gptoss_edu.io.bundle import BUNDLE_ENV, bundle_vocab_dir
from gptoss_edu.io.files import open_regular, partial_name, remove_stale_partials

VOCAB_FILENAME = "o200k_base.tiktoken"
VOCAB_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
VOCAB_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
N_MERGEABLE = 199998
MAX_VOCAB_BYTES = 16 * 2**20  # the official file is 3.6 MB
DOWNLOAD_TIMEOUT = 30.0  # seconds to connect, and to wait for each piece of the answer

_HOW_TO_FIX = (
    "Fix it by one of: connect to the internet once (tiktoken and gptoss_edu cache the file); "
    f"copy {VOCAB_FILENAME} from a machine that has it and set GPTOSS_EDU_VOCAB=/path/to/{VOCAB_FILENAME}; "
    f"or point {BUNDLE_ENV} at a classroom bundle (python -m weights_tools bundle)."
)


class VocabError(RuntimeError):
    """The vocabulary file is missing, unreadable or not the official one."""


def tiktoken_cache_dir() -> Path:
    """The folder tiktoken caches downloads in (same rules as tiktoken)."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def tiktoken_cache_path() -> Path:
    """Where tiktoken stores ``o200k_base.tiktoken``: named by the sha1 of its URL."""
    return tiktoken_cache_dir() / hashlib.sha1(VOCAB_URL.encode()).hexdigest()


def _candidates(path: str | os.PathLike | None) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    if path is not None:
        found.append(("the path argument", Path(path)))
    if os.environ.get("GPTOSS_EDU_VOCAB"):
        found.append(("$GPTOSS_EDU_VOCAB", Path(os.environ["GPTOSS_EDU_VOCAB"])))
    if bundle_vocab_dir() is not None:
        found.append((f"${BUNDLE_ENV}", bundle_vocab_dir()))
    found.append(("tiktoken's cache", tiktoken_cache_path()))
    if os.environ.get("TIKTOKEN_ENCODINGS_BASE"):
        found.append(("$TIKTOKEN_ENCODINGS_BASE", Path(os.environ["TIKTOKEN_ENCODINGS_BASE"])))
    return [(where, p / VOCAB_FILENAME if p.is_dir() else p) for where, p in found]


def check_vocab_bytes(data: bytes, where: str) -> None:
    """Raise ``VocabError`` unless ``data`` is the official file."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != VOCAB_SHA256:
        raise VocabError(
            f"{where} is not the official {VOCAB_FILENAME}: sha256 {digest}, expected {VOCAB_SHA256}. "
            "The file may be truncated or a different vocabulary. " + _HOW_TO_FIX
        )


def resolve_vocab(path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Return the path of a hash-checked ``o200k_base.tiktoken``, downloading it if allowed.

    An explicit ``path`` or ``$GPTOSS_EDU_VOCAB`` that does not exist is an error (we do not
    silently fall back when you named a file).
    """
    for where, candidate in _candidates(path):
        if candidate.is_file():
            check_vocab_bytes(_read_bounded(candidate), f"{candidate} (from {where})")
            return candidate
        if where in ("the path argument", "$GPTOSS_EDU_VOCAB"):
            raise VocabError(f"{candidate} (from {where}) does not exist. " + _HOW_TO_FIX)
    if not download:
        raise VocabError(f"{VOCAB_FILENAME} was not found and downloading is off. " + _HOW_TO_FIX)
    return _download()


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, refusing anything but a regular file of at most ``MAX_VOCAB_BYTES``."""
    try:
        with open_regular(path) as f:
            data = f.read(MAX_VOCAB_BYTES + 1)
    except (OSError, ValueError) as e:
        raise VocabError(f"{path}: cannot be read as the vocabulary ({e}). " + _HOW_TO_FIX) from None
    if len(data) > MAX_VOCAB_BYTES:
        raise VocabError(f"{path}: larger than {MAX_VOCAB_BYTES} bytes, not {VOCAB_FILENAME}. " + _HOW_TO_FIX)
    return data


def _download() -> Path:
    target = tiktoken_cache_path()
    try:
        with urllib.request.urlopen(VOCAB_URL, timeout=DOWNLOAD_TIMEOUT) as response:
            data = response.read(MAX_VOCAB_BYTES + 1)
    except (OSError, http.client.HTTPException) as e:  # a stalled server ends in a socket timeout, an OSError
        raise VocabError(f"could not download {VOCAB_URL} ({e}). " + _HOW_TO_FIX) from None
    check_vocab_bytes(data, f"the download from {VOCAB_URL}")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target)
    partial = partial_name(target)
    partial.write_bytes(data)
    partial.replace(target)  # atomic: a reader never sees half a file
    return target


def parse_ranks(data: bytes, where: str = "vocabulary") -> dict[bytes, int]:
    """Parse ``base64(token) rank`` lines into ``{token_bytes: rank}``."""
    ranks: dict[bytes, int] = {}
    for line_no, line in enumerate(data.splitlines(), start=1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError:
            raise VocabError(f"{where}, line {line_no}: expected 'base64 rank', got {line[:60]!r}") from None
    return ranks


def load_o200k_ranks(path: str | os.PathLike | None = None) -> dict[bytes, int]:
    """The 199,998 mergeable ranks of o200k_base, hash-checked."""
    file = resolve_vocab(path)
    ranks = parse_ranks(_read_bounded(file), str(file))
    if len(ranks) != N_MERGEABLE:
        raise VocabError(f"{file} holds {len(ranks)} tokens, expected {N_MERGEABLE}")
    return ranks
