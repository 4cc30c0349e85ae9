"""Download the real checkpoints from the Hugging Face Hub, then verify them.

``download("openai/gpt-oss-20b", out, layout="original")`` fetches only ``original/*`` (or,
with ``layout="hf"``, the root's config and safetensors). ``snapshot_download`` resumes an
interrupted download and shows progress. Without network we fail within seconds, saying how
to bring the files in by hand.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from gptoss_edu.io.checkpoint import CheckpointError
from weights_tools.verify import verify

REPOS = {"gpt-oss-20b": "openai/gpt-oss-20b", "gpt-oss-120b": "openai/gpt-oss-120b"}
ALLOW_PATTERNS = {
    "original": ["original/*"],
    "hf": ["config.json", "generation_config.json", "model*.safetensors", "model.safetensors.index.json"],
}
PROBE_SECONDS = 5.0


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


def check_online(repo: str, layout: str, out: Path) -> None:
    """Raise ``OfflineError`` fast when ``HF_HUB_OFFLINE`` is set or the Hub does not answer a TCP connect."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise OfflineError("HF_HUB_OFFLINE is set, so nothing can be downloaded.\n" + manual_instructions(repo, layout, out))
    url = urlparse(hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=PROBE_SECONDS).close()
    except OSError as e:
        raise OfflineError(
            f"cannot reach {url.hostname}:{port} ({e}).\n" + manual_instructions(repo, layout, out)
        ) from None


def download(repo: str, out: str | os.PathLike, layout: str = "original", revision: str | None = None,
             check: bool = True) -> Path:
    """Fetch ``repo`` (a name from ``REPOS`` or ``owner/name``) into ``out``; verify unless ``check`` is off."""
    repo = REPOS.get(repo, repo)
    out = Path(out)
    check_online(repo, layout, out)
    from huggingface_hub import snapshot_download

    snapshot_download(repo_id=repo, revision=revision, allow_patterns=ALLOW_PATTERNS[layout], local_dir=out)
    if check:
        problems = verify(out, layout=layout, progress=True)
        if problems:
            raise CheckpointError([f"downloaded {repo} into {out}, but it does not verify:"] + problems)
    return out
