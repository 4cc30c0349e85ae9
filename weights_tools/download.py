"""Download the real checkpoints from the Hugging Face Hub, then verify them.

``download("openai/gpt-oss-20b", out, layout="original")`` fetches only ``original/*`` (or,
with ``layout="hf"``, the root's config and safetensors). ``snapshot_download`` resumes an
interrupted download and shows progress. Without network, or with a server that accepts the
connection and never answers, we fail within ``timeout`` seconds, saying how to bring the
files in by hand.
"""
from __future__ import annotations

import http.client
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from gptoss_edu.io.checkpoint import CheckpointError
from weights_tools.verify import verify

REPOS = {"gpt-oss-20b": "openai/gpt-oss-20b", "gpt-oss-120b": "openai/gpt-oss-120b"}
ALLOW_PATTERNS = {
    "original": ["original/*"],
    "hf": ["config.json", "generation_config.json", "model*.safetensors", "model.safetensors.index.json"],
}
TIMEOUT_SECONDS = 30.0  # for connecting, and for each wait on an answer


class OfflineError(RuntimeError):
    """The Hub cannot be reached (offline mode, or no connection)."""


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def manual_instructions(repo: str, layout: str, out: Path) -> str:
    pattern = ALLOW_PATTERNS[layout][0]
    return (
        f"To copy the files in by hand: on a machine with internet run\n"
        f"  python -m weights_tools download {repo} --layout {layout} --out DIR\n"
        f"(or: hf download {repo} --include '{pattern}' --local-dir DIR), copy DIR to {out} here "
        f"(a USB disk works), then run\n  python -m weights_tools verify {out}"
    )


def check_online(repo: str, layout: str, out: Path, timeout: float = TIMEOUT_SECONDS) -> None:
    """Raise ``OfflineError`` fast when ``HF_HUB_OFFLINE`` is set or the Hub does not answer one request.

    The request (the repository's metadata) has a connect and a read timeout, so a server that
    accepts the connection and then stays silent is reported after ``timeout`` seconds, not never.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise OfflineError("HF_HUB_OFFLINE is set, so nothing can be downloaded.\n" + manual_instructions(repo, layout, out))
    url = urlparse(hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as e:
        raise OfflineError(
            f"cannot reach {url.hostname}:{port} ({e}).\n" + manual_instructions(repo, layout, out)
        ) from None
    try:
        with urllib.request.urlopen(f"{hub_endpoint().rstrip('/')}/api/models/{repo}", timeout=timeout) as response:
            response.read(1)
    except urllib.error.HTTPError:
        return  # the Hub answered (a gated or missing repository is snapshot_download's to explain)
    except (OSError, http.client.HTTPException) as e:  # socket timeouts are OSErrors too
        raise OfflineError(
            f"{url.hostname}:{port} accepted a connection but gave no answer within {timeout:g} s ({e}); "
            "the network or a proxy is stalling. Try again later, raise --timeout, or copy the files in.\n"
            + manual_instructions(repo, layout, out)
        ) from None


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a failed or stalled transfer raises: OSErrors (huggingface_hub's own errors are), and httpx's errors."""
    try:
        import httpx  # huggingface_hub >= 1.0 talks HTTP with it
    except ImportError:
        return (OSError,)
    return (OSError, httpx.HTTPError)


def download(repo: str, out: str | os.PathLike, layout: str = "original", revision: str | None = None,
             check: bool = True, timeout: float = TIMEOUT_SECONDS) -> Path:
    """Fetch ``repo`` (a name from ``REPOS`` or ``owner/name``) into ``out``; verify unless ``check`` is off.

    ``timeout`` bounds connecting and each wait for data (the probe, and huggingface_hub's
    metadata requests); a stall becomes an ``OfflineError`` that says what to do.
    """
    repo = REPOS.get(repo, repo)
    out = Path(out)
    check_online(repo, layout, out, timeout)
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id=repo, revision=revision, allow_patterns=ALLOW_PATTERNS[layout], local_dir=out,
                          etag_timeout=timeout)
    except _network_errors() as e:
        raise OfflineError(f"downloading {repo} stopped: {e}. Run the same command again to resume.\n"
                           + manual_instructions(repo, layout, out)) from None
    if check:
        problems = verify(out, layout=layout, progress=True)
        if problems:
            raise CheckpointError([f"downloaded {repo} into {out}, but it does not verify:"] + problems)
    return out
