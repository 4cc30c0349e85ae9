"""Classroom bundles: one folder with the vocabulary, checkpoints and a README, for offline rooms.

Layout (``$GPTOSS_EDU_BUNDLE`` points at the folder)::

    bundle/
      README.md
      vocab/o200k_base.tiktoken        found by gptoss_edu.io.vocab.resolve_vocab
      checkpoints/<name>/              found by gptoss_edu.load_model() or load_model("<name>")

The checkpoint is verified before it is copied; the bundle is assembled under a temporary
name and renamed when complete. Adding a checkpoint to an existing bundle keeps the others.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from tqdm.auto import tqdm

from gptoss_edu.io.checkpoint import BUNDLE_CHECKPOINTS, BUNDLE_ENV, CheckpointError, find_checkpoint
from gptoss_edu.io.vocab import VOCAB_FILENAME, resolve_vocab
from weights_tools.verify import verify

README = """# gptoss-edu classroom bundle

Everything gptoss-edu needs offline. On each machine:

    export {env}={folder}

then `gptoss_edu.load_model()` loads the checkpoint in `checkpoints/` (or
`load_model("<name>")` when there are several), and the tokenizer finds
`vocab/{vocab}`. Check the copy with `python -m weights_tools verify {folder}/checkpoints/<name>`.

Checkpoints: {names}
"""


def make_bundle(out: str | os.PathLike, checkpoint: str | os.PathLike, name: str | None = None,
                vocab: str | os.PathLike | None = None, progress: bool = False) -> Path:
    """Create (or extend) the bundle at ``out`` with the checkpoint at ``checkpoint``; return ``out``."""
    out = Path(out)
    folder, _ = find_checkpoint(checkpoint)
    problems = verify(folder, progress=progress)
    if problems:
        raise CheckpointError([f"not bundling {folder}:"] + problems)
    name = name or (folder.parent.name if folder.name == "original" else folder.name)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        if out.exists():
            shutil.copytree(out, partial)
        (partial / "vocab").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(resolve_vocab(vocab), partial / "vocab" / VOCAB_FILENAME)
        target = partial / BUNDLE_CHECKPOINTS / name
        shutil.rmtree(target, ignore_errors=True)
        _copy_folder(folder, target, progress)
        names = sorted(p.name for p in (partial / BUNDLE_CHECKPOINTS).iterdir())
        readme = README.format(env=BUNDLE_ENV, folder=out.resolve(), vocab=VOCAB_FILENAME, names=", ".join(names))
        (partial / "README.md").write_text(readme)
        old = out.with_name(f".{out.name}.{os.getpid()}.old")
        if out.exists():
            out.replace(old)
        partial.replace(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out


def _copy_folder(src: Path, dst: Path, progress: bool) -> None:
    """Copy the checkpoint's files (config, index, shards), not any other files lying there."""
    dst.mkdir(parents=True)
    files = [p for p in sorted(src.iterdir()) if p.is_file() and (p.suffix in (".json", ".safetensors"))]
    for f in tqdm(files, desc=f"copying {src.name}", unit="file", disable=not progress):
        shutil.copyfile(f, dst / f.name)
