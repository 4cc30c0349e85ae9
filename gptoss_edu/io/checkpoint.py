"""Find, check and load gpt-oss checkpoints in either layout.

``open_checkpoint(path)`` finds the folder, tells the layout, reads ``config.json`` and every
safetensors header (no tensor data), and checks each tensor against
``checkpoint_spec(config)``: missing, unexpected, misshapen, wrong dtype, truncated file,
corrupt header, missing shard, index inconsistent with its shards. Every problem is named
with its file and tensor; any problem raises ``CheckpointError``. The result reads tensors
under their original-layout names, whole or a range of rows at a time, with plain positioned
reads (no memory map, so memory holds only what was asked for).

Where we look (``find_checkpoint``):
- a folder with ``config.json`` and ``*.safetensors``: the layout is Hugging Face when the
  config has ``model_type`` (``model.safetensors``, or shards named in
  ``model.safetensors.index.json``), OpenAI's original layout otherwise (every
  ``*.safetensors`` in the folder, as the reference loader reads it; an index is checked if present);
- a Hub download holding both (the HF files at the root and ``original/``): we take
  ``original/``, the model's native naming; pass ``layout="hf"`` to take the root instead;
- a classroom bundle: with ``$GPTOSS_EDU_BUNDLE`` set, ``load_model()`` without a path takes
  the only checkpoint in ``$GPTOSS_EDU_BUNDLE/checkpoints/``, and a relative name that is
  not an existing path is looked up there (``load_model("gpt-oss-20b")``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from gptoss_edu.config import ModelConfig
from gptoss_edu.io.layouts import BF16, HF, MXFP4, ORIGINAL, Part, TensorSpec, checkpoint_spec, hf_parts, is_mxfp4
from gptoss_edu.io.mapped import assign_tensor, mapped_tensor
from gptoss_edu.io.safetensors_io import SafetensorsFormatError, StoredTensor, read_header

INDEX_FILE = "model.safetensors.index.json"
BUNDLE_ENV = "GPTOSS_EDU_BUNDLE"
BUNDLE_CHECKPOINTS = "checkpoints"
FLOAT_DTYPES = (torch.bfloat16, torch.float32)


class CheckpointError(ValueError):
    """A checkpoint cannot be found, or does not match its config. The message names the culprits."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        shown = self.problems[:20]
        more = f"\n... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__("\n".join(shown) + more)


# ---- finding the folder -------------------------------------------------------------------
def bundle_checkpoints() -> dict[str, Path]:
    """Checkpoint folders of the bundle named by ``$GPTOSS_EDU_BUNDLE`` (empty when unset)."""
    root = os.environ.get(BUNDLE_ENV)
    if not root:
        return {}
    folder = Path(root) / BUNDLE_CHECKPOINTS
    return {p.name: p for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def find_checkpoint(path: str | os.PathLike | None = None, layout: str = "auto") -> tuple[Path, str]:
    """Return ``(folder, layout)`` for ``path`` (see the module docstring for the rules)."""
    folder = _locate(path)
    if layout not in ("auto", ORIGINAL, HF):
        raise ValueError(f"layout={layout!r}; choose 'auto', 'original' or 'hf'")
    if layout in ("auto", ORIGINAL) and (folder / "original" / "config.json").is_file():
        folder = folder / "original"
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{folder}: no config.json, so this is not a checkpoint folder")
    found = HF if "model_type" in _read_json(config_file) else ORIGINAL
    if layout != "auto" and found != layout:
        raise CheckpointError(f"{folder} holds the {found!r} layout, but layout={layout!r} was asked for")
    return folder, found


def _locate(path: str | os.PathLike | None) -> Path:
    bundled = bundle_checkpoints()
    if path is None:
        if len(bundled) == 1:
            return next(iter(bundled.values()))
        where = f"${BUNDLE_ENV}/{BUNDLE_CHECKPOINTS} holds {sorted(bundled) or 'nothing'}"
        raise CheckpointError(f"no checkpoint path given and {where}; pass a path or one of those names")
    folder = Path(path).expanduser()
    if folder.is_dir():
        return folder
    if folder.is_file():
        return folder.parent  # a file inside the checkpoint (config.json, a shard) names its folder
    if not folder.is_absolute() and str(path) in bundled:
        return bundled[str(path)]
    hint = f" (nor in the bundle, which holds {sorted(bundled)})" if os.environ.get(BUNDLE_ENV) else ""
    raise CheckpointError(f"{folder}: no such checkpoint folder{hint}")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def read_config(folder: Path, layout: str) -> ModelConfig:
    """The ``ModelConfig`` of a checkpoint folder, from the ``config.json`` flavour of its layout."""
    data = _read_json(folder / "config.json")
    name = folder.parent.name if folder.name == "original" else folder.name
    try:
        return ModelConfig.from_hf_dict(data, name=name) if layout == HF else ModelConfig.from_original_dict(data, name)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / 'config.json'}: not a gpt-oss {layout} config ({e})") from None


# ---- reading headers and checking them ---------------------------------------------------------
def read_headers(folder: Path) -> tuple[dict[str, StoredTensor], list[str], set[str]]:
    """Every stored tensor of the folder by name, the problems found on the way, and the names
    the index places in unreadable files (already reported with their file, so not again as missing)."""
    index_file = folder / INDEX_FILE
    if index_file.is_file():
        weight_map = _read_json(index_file).get("weight_map")
        if not isinstance(weight_map, dict):
            return {}, [f"{index_file}: no 'weight_map' object"], set()
        files = sorted(set(weight_map.values()))
    else:
        weight_map = None
        files = sorted(p.name for p in folder.glob("*.safetensors"))
        if not files:
            return {}, [f"{folder}: no *.safetensors files"], set()
    stored: dict[str, StoredTensor] = {}
    problems: list[str] = []
    unreadable: set[str] = set()
    for file in files:
        try:
            header = read_header(folder / file)
        except FileNotFoundError:
            listed = sorted(k for k, v in weight_map.items() if v == file)
            more = ", ..." if len(listed) > 5 else ""
            problems.append(f"{folder / file}: missing shard (named in {INDEX_FILE} for {len(listed)} tensors: "
                            f"{', '.join(listed[:5])}{more})")
            unreadable.add(file)
            continue
        except SafetensorsFormatError as e:
            problems.append(str(e))
            unreadable.add(file)
            continue
        for name, t in header.items():
            if name in stored:
                problems.append(f"{t.file}: tensor {name!r} is also stored in {stored[name].file.name}")
            stored[name] = t
    if weight_map is None:
        return stored, problems, set()
    problems += _index_problems(index_file, weight_map, stored)
    return stored, problems, {name for name, file in weight_map.items() if file in unreadable}


def _index_problems(index_file: Path, weight_map: dict[str, str], stored: dict[str, StoredTensor]) -> list[str]:
    problems = []
    readable = {t.file.name for t in stored.values()}
    for name, file in weight_map.items():
        if name not in stored and file in readable:
            problems.append(f"{index_file}: tensor {name!r} is listed in {file}, which does not contain it")
        elif name in stored and stored[name].file.name != file:
            problems.append(f"{index_file}: tensor {name!r} is listed in {file} but stored in {stored[name].file.name}")
    for name, t in stored.items():
        if name not in weight_map:
            problems.append(f"{t.file}: tensor {name!r} is not listed in {INDEX_FILE}")
    return problems


def expected_stored(config: ModelConfig, layout: str, experts: str) -> dict[str, tuple[str, Part, TensorSpec]]:
    """Stored name -> (original name, the rows it holds, expected on-disk spec), for one layout."""
    out = {}
    for name, spec in checkpoint_spec(config, experts).items():
        parts = [Part(name, 0, spec.shape[0])] if layout == ORIGINAL else hf_parts(config, name, spec.shape[0])
        for part in parts:
            shape = (part.rows, *spec.shape[1:])
            if part.transposed:
                shape = (shape[0], shape[2], shape[1])
            out[part.name] = (name, part, TensorSpec(shape, spec.dtype))
    return out


def detect_experts(stored_names) -> str:
    """``"mxfp4"`` when expert weights are stored as blocks/scales, ``"bf16"`` when stored dense."""
    names = list(stored_names)
    if any(is_mxfp4(n) for n in names):
        return MXFP4
    dense = any(n.endswith(("mlp1_weight", "mlp2_weight", "gate_up_proj", "down_proj")) for n in names)
    return BF16 if dense else MXFP4


def spec_problems(expected: dict[str, tuple[str, Part, TensorSpec]], stored: dict[str, StoredTensor],
                  folder: Path, unreadable: set[str] = frozenset()) -> list[str]:
    """Missing, unexpected, misshapen and wrongly typed tensors (``unreadable`` names are not called missing)."""
    problems = []
    for name, (_, _, spec) in expected.items():
        t = stored.get(name)
        if t is None and name in unreadable:
            continue
        if t is None:
            problems.append(f"{folder}: tensor {name!r} is missing (expected {_describe(spec)})")
            continue
        if t.shape != spec.shape:
            problems.append(f"{t.file}: tensor {name!r} has shape {list(t.shape)}, expected {list(spec.shape)}")
        allowed = FLOAT_DTYPES if spec.dtype.is_floating_point else (spec.dtype,)
        if t.dtype not in allowed:
            problems.append(f"{t.file}: tensor {name!r} has dtype {_short(t.dtype)}, "
                            f"expected {' or '.join(_short(d) for d in allowed)}")
    for name, t in stored.items():
        if name not in expected:
            problems.append(f"{t.file}: unexpected tensor {name!r} ({_short(t.dtype)} {list(t.shape)})")
    return problems


def _short(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _describe(spec: TensorSpec) -> str:
    return f"{_short(spec.dtype)} {list(spec.shape)}"


# ---- the opened checkpoint ----------------------------------------------------------------------
class Checkpoint:
    """An opened checkpoint: config, layout, stored tensors, and the problems found in its headers.

    ``read(name, row0, row1)`` returns rows of a tensor under its original-layout name,
    joining or transposing Hugging Face tensors as needed. Use ``open_checkpoint`` to get one.
    """

    def __init__(self, folder: Path, layout: str):
        self.folder, self.layout = folder, layout
        self.config = read_config(folder, layout)
        self.stored, header_problems, unreadable = read_headers(folder)
        self.experts = detect_experts(self.stored)
        self.expected = expected_stored(self.config, layout, self.experts)
        self.problems = header_problems + spec_problems(self.expected, self.stored, folder, unreadable)
        self.spec = checkpoint_spec(self.config, self.experts)
        self._parts: dict[str, list[Part]] = {}
        for name, part, _ in self.expected.values():
            self._parts.setdefault(name, []).append(part)

    def dtype_of(self, name: str) -> torch.dtype:
        """On-disk dtype of original-layout tensor ``name`` (bf16 or float32 for floating tensors)."""
        return self.stored[self._parts[name][0].name].dtype

    def read(self, name: str, row0: int = 0, row1: int | None = None) -> torch.Tensor:
        """Rows ``[row0, row1)`` (all by default) of original-layout tensor ``name``."""
        if name not in self._parts:
            raise KeyError(f"{name!r} is not a tensor of this checkpoint ({self.experts} experts)")
        row1 = self.spec[name].shape[0] if row1 is None else row1
        pieces = []
        for part in self._parts[name]:
            lo, hi = max(row0, part.row0), min(row1, part.row0 + part.rows)
            if lo < hi:
                piece = read_rows(self.stored[part.name], lo - part.row0, hi - part.row0)
                pieces.append(piece.transpose(1, 2) if part.transposed else piece)
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    def stored_whole(self, name: str) -> StoredTensor | None:
        """The one stored tensor holding original-layout tensor ``name`` whole and untransposed, else ``None``."""
        parts = self._parts.get(name, [])
        if len(parts) != 1 or parts[0].transposed or parts[0].name not in self.stored:
            return None
        return self.stored[parts[0].name]


def read_rows(t: StoredTensor, row0: int, row1: int) -> torch.Tensor:
    """Rows ``[row0, row1)`` along dim 0 of a stored tensor, read straight from its file."""
    row_bytes = (t.end - t.begin) // t.shape[0] if t.shape and t.shape[0] else 0
    buffer = bytearray((row1 - row0) * row_bytes)
    with open(t.file, "rb") as f:
        f.seek(t.begin + row0 * row_bytes)
        if f.readinto(buffer) != len(buffer):
            raise CheckpointError(f"{t.file}: tensor {t.name!r}: file ended early (truncated)")
    flat = torch.frombuffer(buffer, dtype=torch.uint8) if buffer else torch.empty(0, dtype=torch.uint8)
    return flat.view(t.dtype).reshape(row1 - row0, *t.shape[1:])


def open_checkpoint(path: str | os.PathLike | None = None, layout: str = "auto", strict: bool = True) -> Checkpoint:
    """Find and check a checkpoint; with ``strict`` any problem raises ``CheckpointError`` listing them all."""
    ckpt = Checkpoint(*find_checkpoint(path, layout))
    if strict and ckpt.problems:
        raise CheckpointError(ckpt.problems)
    return ckpt


# ---- loading a model --------------------------------------------------------------------------
def _checkpoint_tensor(ckpt: Checkpoint, name: str, target: torch.Tensor) -> torch.Tensor:
    """The checkpoint's value for model tensor ``name``, decoding MXFP4 when the model holds dense experts."""
    if name in ckpt.spec:
        return ckpt.read(name)
    if f"{name}.blocks" in ckpt.spec:  # dequantized model, packed checkpoint
        from gptoss_edu.model.mxfp4 import dequantize

        return dequantize(ckpt.read(f"{name}.blocks"), ckpt.read(f"{name}.scales"), target.dtype)
    if name.endswith((".blocks", ".scales")):
        raise CheckpointError(
            f"{ckpt.folder}: stores dequantized (bf16) experts, so tensor {name!r} of a packed model has no source; "
            "load it with experts='dequantized'"
        )
    raise CheckpointError(f"{ckpt.folder}: the model has tensor {name!r}, which no checkpoint tensor provides")


def load_model(path: str | os.PathLike | None = None, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32, experts: str = "packed", progress: bool = True,
               layout: str = "auto", kernels: bool = True, mmap: bool = False):
    """Build a ``Transformer`` from the checkpoint at ``path`` (either layout, or a bundle name).

    The model is built on the meta device, materialised empty on ``device``, and filled tensor
    by tensor, so memory peaks at the model plus one checkpoint tensor. ``experts="dequantized"``
    decodes the MXFP4 experts into dense ``dtype`` tensors while loading. On CUDA with packed
    experts and ``kernels``, the Triton cores are swapped in (``gptoss_edu.fast.gpu.use_kernels``,
    which falls back to plain torch with a one-line notice where they cannot run).
    The loaded model is for inference: its parameters do not require gradients (otherwise a
    forward pass would keep every decoded expert alive for a backward pass that never comes);
    call ``model.requires_grad_(True)`` to fine-tune it. ``mmap=True`` (CPU, packed experts)
    leaves the MXFP4 expert tensors in the checkpoint files, memory-mapped
    (``gptoss_edu.io.mapped``): the process's own memory then holds only the other ~3.7 GB of
    the 20b (attention, embedding, unembedding in bf16).
    """
    from tqdm.auto import tqdm

    from gptoss_edu.model.transformer import Transformer

    ckpt = open_checkpoint(path, layout)
    if mmap and (torch.device(device).type != "cpu" or experts != "packed"):
        raise ValueError(f"mmap=True maps packed experts into CPU memory; got device={device!r}, experts={experts!r}")
    model = Transformer(ckpt.config, device="meta", dtype=dtype, experts=experts)
    model.to_empty(device=device)
    state = model.state_dict()
    with torch.no_grad():
        for name, target in tqdm(state.items(), desc=f"loading {ckpt.folder.name}", unit="tensor",
                                 disable=not progress):
            if mmap and (mapped := mapped_tensor(ckpt, name)) is not None and mapped.shape == target.shape:
                assign_tensor(model, name, mapped)
                continue
            value = _checkpoint_tensor(ckpt, name, target)
            if value.shape != target.shape:
                raise CheckpointError(f"{ckpt.folder}: tensor {name!r} has shape {list(value.shape)}, "
                                      f"the model expects {list(target.shape)}")
            target.copy_(value.to(target.dtype))
    model.eval().requires_grad_(False)
    if kernels and experts == "packed" and torch.device(device).type == "cuda":
        from gptoss_edu.fast.gpu import use_kernels

        use_kernels(model)
    return model
