"""Classroom bundles: one folder with the vocabulary, checkpoints and a README, for offline rooms.

The layout is described in ``gptoss_edu.io.bundle`` (``$GPTOSS_EDU_BUNDLE`` points at the folder).
The bundle tool never deletes or overwrites anything it did not create:

- ``bundle.json`` lists every entry the tool created. An existing folder without it is not a
  bundle and is refused, unless it is empty.
- An entry (``checkpoints/<name>``, ``vocab/o200k_base.tiktoken``, ``README.md``) is written only
  when it is absent or listed as ours; a ``README.md`` that the user wrote or edited is left as
  it is, and a checkpoint or vocabulary of the same name that the tool did not create is refused.
- Names are plain names (no ``/``, no ``..``, not hidden): a name can only ever address
  ``checkpoints/<name>``.
- Each entry is assembled under ``.NAME.PID.partial`` and renamed into place when complete;
  the leftovers of an interrupted run are removed on the next run once their process is gone.

The checkpoint is verified before it is copied, and only its own files (config, index, the
shards it reads) are copied.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from tqdm.auto import tqdm

from gptoss_edu.io.bundle import BUNDLE_ENV, CHECKPOINTS_DIR, MANIFEST, VOCAB_DIR
from gptoss_edu.io.checkpoint import INDEX_FILE, CheckpointError, find_checkpoint, open_checkpoint
from gptoss_edu.io.files import FolderError, open_regular, partial_name, read_json, remove_stale_partials
from gptoss_edu.io.vocab import VOCAB_FILENAME, resolve_vocab
from weights_tools.verify import verify

FORMAT = "gptoss-edu bundle"
README = """# gptoss-edu classroom bundle

Everything gptoss-edu needs offline. On each machine:

    export {env}={folder}

then `gptoss_edu.load_model()` loads the checkpoint in `checkpoints/` (or
`load_model("<name>")` when there are several), and the tokenizer finds
`vocab/{vocab}`. Check the copy with `python -m weights_tools verify {folder}/checkpoints/<name>`.

Checkpoints: {names}
"""


class BundleError(ValueError):
    """The bundle cannot be made without touching something the bundle tool did not create."""


def make_bundle(out: str | os.PathLike, checkpoint: str | os.PathLike, name: str | None = None,
                vocab: str | os.PathLike | None = None, progress: bool = False) -> Path:
    """Create (or extend) the bundle at ``out`` with the checkpoint at ``checkpoint``; return ``out``."""
    out = Path(out)
    folder, _ = find_checkpoint(checkpoint)
    name = plain_name(name if name is not None else (folder.parent.name if folder.name == "original" else folder.name))
    problems = verify(folder, progress=progress)
    if problems:
        raise CheckpointError([f"not bundling {folder}:"] + problems)
    manifest = open_bundle(out)
    files = checkpoint_files(folder)
    _place(out, f"{CHECKPOINTS_DIR}/{name}", manifest, lambda target: _copy_files(files, folder, target, progress))
    _place_vocab(out, vocab, manifest)
    _place_readme(out, manifest)
    return out


def plain_name(name: str) -> str:
    """``name`` if it can only mean one entry of ``checkpoints/``; else ``BundleError``."""
    if (not name or name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\\0")
            or os.path.isabs(name) or len(name) > 200):
        raise BundleError(f"--name {name!r}: a checkpoint name must be a plain name (no '/', no '..', "
                          "not hidden, not absolute)")
    return name


def open_bundle(out: Path) -> dict:
    """The manifest of bundle ``out`` (``created``: entries the tool made, ``readme_sha256``: the README it
    last wrote); a new or empty folder becomes a bundle, anything else is refused."""
    remove_stale_partials(out)  # the whole-folder partials of older versions of this tool
    remove_stale_partials(out / MANIFEST)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise BundleError(f"{out} exists and is not a folder; choose a new folder for the bundle")
    if (out / MANIFEST).exists() or (out / MANIFEST).is_symlink():
        try:
            manifest = read_json(out / MANIFEST, 2**20, "bundle manifest")
        except (FolderError, OSError) as e:
            raise BundleError(f"{out}: unreadable {MANIFEST} ({e}); not touching this folder") from None
        manifest = manifest if isinstance(manifest, dict) else {}
        created = manifest.get("created")
        if manifest.get("format") != FORMAT or not isinstance(created, list) or not all(isinstance(c, str) for c in created):
            raise BundleError(f"{out / MANIFEST}: not a {FORMAT} manifest; not touching this folder")
        return manifest
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} exists and is not a gptoss-edu bundle (no {MANIFEST}); "
                          "choose a new or empty folder, nothing was changed")
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"format": FORMAT, "created": []}
    _write_manifest(out, manifest)
    return manifest


def checkpoint_files(folder: Path) -> list[Path]:
    """The files a checkpoint reads: ``config.json``, the index if any, and every shard (checked paths)."""
    ckpt = open_checkpoint(folder)
    files = [folder / "config.json"] + ([folder / INDEX_FILE] if (folder / INDEX_FILE).exists() else [])
    return files + sorted({t.file for t in ckpt.stored.values()})


def _own_names(manifest: dict) -> list[str]:
    return [entry.split("/", 1)[1] for entry in manifest["created"] if entry.startswith(f"{CHECKPOINTS_DIR}/")]


def _place(out: Path, entry: str, manifest: dict, build) -> None:
    """Build ``out/entry`` under a partial name with ``build(path)`` and swap it in; only our own entries are replaced."""
    target = out / entry
    parent = target.parent
    if parent != out:
        _own_subfolder(out, parent.name)
    remove_stale_partials(target)
    if (target.exists() or target.is_symlink()) and entry not in manifest["created"]:
        raise BundleError(f"{target} exists and was not created by the bundle tool; not replacing it")
    if entry not in manifest["created"]:
        manifest["created"].append(entry)
        _write_manifest(out, manifest)  # first: an interrupted run leaves an entry we may replace next time
    partial, old = partial_name(target), partial_name(target, "old")
    try:
        build(partial)
        if target.exists() or target.is_symlink():
            target.replace(old)
        partial.replace(target)
    finally:
        for leftover in (partial, old):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            elif leftover.exists() or leftover.is_symlink():
                leftover.unlink()


def _own_subfolder(out: Path, sub: str) -> None:
    """``out/sub`` as a real folder (created if absent); a link or a file there is refused."""
    path = out / sub
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise BundleError(f"{path} is not a plain folder; not writing into it")
    path.mkdir(exist_ok=True)


def _place_vocab(out: Path, vocab: str | os.PathLike | None, manifest: dict) -> None:
    entry = f"{VOCAB_DIR}/{VOCAB_FILENAME}"
    source = resolve_vocab(vocab)
    target = out / entry
    if entry not in manifest["created"] and target.is_file() and not target.is_symlink():
        resolve_vocab(target)  # hash-checked: the official file, put there by hand, is kept; anything else refused
        return
    _place(out, entry, manifest, lambda path: shutil.copyfile(source, path))


def _place_readme(out: Path, manifest: dict) -> None:
    """Write the README when absent, or when it is still exactly the one the tool wrote (a user's README stays)."""
    target = out / "README.md"
    ours = "README.md" in manifest["created"] and _sha256(target) == manifest.get("readme_sha256")
    if os.path.lexists(target) and not ours:
        return
    names = ", ".join(sorted(_own_names(manifest)))
    readme = README.format(env=BUNDLE_ENV, folder=out.resolve(), vocab=VOCAB_FILENAME, names=names)
    manifest["readme_sha256"] = hashlib.sha256(readme.encode()).hexdigest()
    _place(out, "README.md", manifest, lambda path: path.write_text(readme))
    _write_manifest(out, manifest)


def _sha256(path: Path) -> str | None:
    if not path.is_file() or path.is_symlink():
        return None
    with open_regular(path) as f:
        return hashlib.sha256(f.read()).hexdigest()


def _copy_files(files: list[Path], folder: Path, target: Path, progress: bool) -> None:
    """Copy ``files`` (paths inside ``folder``) to the same relative paths under ``target``, links followed."""
    for f in tqdm(files, desc=f"copying {folder.name}", unit="file", disable=not progress):
        destination = target / f.relative_to(folder)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, destination)


def _write_manifest(out: Path, manifest: dict) -> None:
    partial = partial_name(out / MANIFEST)
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    partial.replace(out / MANIFEST)
