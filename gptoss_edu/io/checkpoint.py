"""Find, check and load gpt-oss checkpoints in either layout.

``open_checkpoint(path)`` finds the folder, tells the layout, reads ``config.json`` and every
safetensors header (no tensor data), and checks each tensor against
``checkpoint_spec(config)``: missing, unexpected, misshapen, wrong dtype, truncated file,
corrupt header, missing shard, index inconsistent with its shards. Every problem is named
with its file and tensor; any problem raises ``CheckpointError``. The result reads tensors
under their original-layout names, whole or a range of rows at a time, with plain positioned
reads (no memory map, so memory holds only what was asked for).

Folders from strangers (see ``gptoss_edu.io.files``): only regular files inside the folder
are opened (an index naming ``/dev/zero`` or ``../x``, a FIFO shard or a link leading out is
a ``CheckpointError``), JSON files are bounded in size and depth, and ``config.json`` is
validated field by field before anything is sized from it. ``load_model`` also checks the
numbers it copies (``gptoss_edu.io.values``) unless ``check_values=False``.

Where we look (``find_checkpoint``):
- a folder with ``config.json`` and ``*.safetensors``: the layout is Hugging Face when the
  config has ``model_type`` (``model.safetensors``, or shards named in
  ``model.safetensors.index.json``), OpenAI's original layout otherwise (every
  ``*.safetensors`` in the folder, as the reference loader reads it; an index is checked if present);
- a Hub download holding both (the HF files at the root and ``original/``): we take
  ``original/``, the model's native naming; pass ``layout="hf"`` to take the root instead;
- a classroom bundle (``gptoss_edu.io.bundle``): with ``$GPTOSS_EDU_BUNDLE`` set, ``load_model()``
  without a path takes the only checkpoint in its ``checkpoints/``, and a relative name that is
  not an existing path is looked up there (``load_model("gpt-oss-20b")``).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from gptoss_edu.config import MAX_CONFIG_JSON_BYTES, ModelConfig
from gptoss_edu.io.bundle import BUNDLE_ENV, CHECKPOINTS_DIR, bundle_checkpoints
from gptoss_edu.io.files import FolderError, inside, open_regular, plain_relative_name, read_json
from gptoss_edu.io.layouts import BF16, HF, MXFP4, ORIGINAL, Part, TensorSpec, checkpoint_spec, is_mxfp4, stored_spec
from gptoss_edu.io.mapped import assign_tensor, mapped_tensor
from gptoss_edu.io.safetensors_io import SafetensorsFormatError, StoredTensor, read_header
from gptoss_edu.io.values import value_problem

INDEX_FILE = "model.safetensors.index.json"
FLOAT_DTYPES = (torch.bfloat16, torch.float32)
MAX_INDEX_BYTES = 64 * 2**20  # the 120b index is 60 kB
MAX_SHARDS = 10_000  # the 120b has 15


class CheckpointError(ValueError):
    """A checkpoint cannot be found, or does not match its config. The message names the culprits."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        shown = self.problems[:20]
        more = f"\n... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__("\n".join(shown) + more)


# ---- finding the folder -------------------------------------------------------------------
def find_checkpoint(path: str | os.PathLike | None = None, layout: str = "auto") -> tuple[Path, str]:
    """Return ``(folder, layout)`` for ``path`` (see the module docstring for the rules)."""
    folder = _locate(path)
    if layout not in ("auto", ORIGINAL, HF):
        raise ValueError(f"layout={layout!r}; choose 'auto', 'original' or 'hf'")
    if layout in ("auto", ORIGINAL) and (folder / "original" / "config.json").is_file():
        if not (folder / "original").resolve().is_relative_to(folder.resolve()):
            raise CheckpointError(f"{folder / 'original'}: links to {(folder / 'original').resolve()}, outside {folder}")
        folder = folder / "original"
    found = HF if "model_type" in read_config_json(folder) else ORIGINAL
    if layout != "auto" and found != layout:
        raise CheckpointError(f"{folder} holds the {found!r} layout, but layout={layout!r} was asked for")
    return folder, found


def _locate(path: str | os.PathLike | None) -> Path:
    bundled = bundle_checkpoints()
    if path is None:
        if len(bundled) == 1:
            return next(iter(bundled.values()))
        where = f"${BUNDLE_ENV}/{CHECKPOINTS_DIR} holds {sorted(bundled) or 'nothing'}"
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


def _read_json(folder: Path, name: str, max_bytes: int) -> dict:
    """The JSON object in regular file ``name`` of ``folder``; anything else is a ``CheckpointError``."""
    try:
        data = read_json(inside(folder, name), max_bytes, name)
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: no {name}") from None
    except (FolderError, OSError) as e:
        raise CheckpointError(str(e)) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{folder / name}: expected a JSON object")
    return data


def read_config_json(folder: Path) -> dict:
    """The raw ``config.json`` of a checkpoint folder, bounded and checked to be an object."""
    if not (folder / "config.json").exists() and not (folder / "config.json").is_symlink():
        raise CheckpointError(f"{folder}: no config.json, so this is not a checkpoint folder")
    return _read_json(folder, "config.json", MAX_CONFIG_JSON_BYTES)


def read_config(folder: Path, layout: str) -> ModelConfig:
    """The ``ModelConfig`` of a checkpoint folder, each field checked before anything is sized from it."""
    data = read_config_json(folder)
    name = folder.parent.name if folder.name == "original" else folder.name
    try:
        return ModelConfig.from_hf_dict(data, name=name) if layout == HF else ModelConfig.from_original_dict(data, name)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / 'config.json'}: invalid gpt-oss {layout} config: {e}") from None


# ---- reading headers and checking them ---------------------------------------------------------
def read_headers(folder: Path) -> tuple[dict[str, StoredTensor], list[str], set[str]]:
    """Every stored tensor of the folder by name, the problems found on the way, and the names
    the index places in unreadable files (already reported with their file, so not again as missing)."""
    index_file = folder / INDEX_FILE
    if index_file.exists() or index_file.is_symlink():
        weight_map, problems = _weight_map(folder)
        if weight_map is None:
            return {}, problems, set()
        files = sorted(set(weight_map.values()))
    else:
        weight_map, problems = None, []
        files = sorted(p.name for p in folder.glob("*.safetensors"))
        if not files:
            return {}, [f"{folder}: no *.safetensors files"], set()
    stored: dict[str, StoredTensor] = {}
    unreadable: set[str] = set()
    listed: dict[str, list[str]] = {}
    for name, file in (weight_map or {}).items():
        listed.setdefault(file, []).append(name)
    for file in files:
        try:
            header = read_header(inside(folder, file))
        except FileNotFoundError:
            names = sorted(listed.get(file, []))
            more = ", ..." if len(names) > 5 else ""
            problems.append(f"{folder / file}: missing shard (named in {INDEX_FILE} for {len(names)} tensors: "
                            f"{', '.join(names[:5])}{more})")
            unreadable.add(file)
            continue
        except (FolderError, SafetensorsFormatError, OSError) as e:
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


def _weight_map(folder: Path) -> tuple[dict[str, str] | None, list[str]]:
    """The index's ``weight_map`` (tensor name -> shard file name), or ``None`` and why it cannot be used."""
    index_file = folder / INDEX_FILE
    weight_map = _read_json(folder, INDEX_FILE, MAX_INDEX_BYTES).get("weight_map")
    if not isinstance(weight_map, dict):
        return None, [f"{index_file}: no 'weight_map' object"]
    wrong = [f"{index_file}: tensor {name!r} is mapped to {file!r}, not a file name (a string)"
             for name, file in weight_map.items() if not isinstance(file, str)]
    for file in sorted(set(weight_map.values()) if not wrong else ()):
        try:
            plain_relative_name(file, str(index_file))
        except FolderError as e:
            wrong.append(str(e))
    if wrong:  # an index that points outside the folder is not consulted at all
        return None, wrong
    if len(set(weight_map.values())) > MAX_SHARDS:
        return None, [f"{index_file}: names {len(set(weight_map.values()))} shard files, more than {MAX_SHARDS}"]
    return weight_map, []


def _index_problems(index_file: Path, weight_map: dict[str, str], stored: dict[str, StoredTensor]) -> list[str]:
    problems = []
    where = {name: t.file.relative_to(index_file.parent).as_posix() for name, t in stored.items()}  # as the index names it
    readable = set(where.values())
    for name, file in weight_map.items():
        if name not in stored and file in readable:
            problems.append(f"{index_file}: tensor {name!r} is listed in {file}, which does not contain it")
        elif name in stored and where[name] != file:
            problems.append(f"{index_file}: tensor {name!r} is listed in {file} but stored in {where[name]}")
    for name, t in stored.items():
        if name not in weight_map:
            problems.append(f"{t.file}: tensor {name!r} is not listed in {INDEX_FILE}")
    return problems


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
        self.expected = stored_spec(self.config, layout, self.experts)
        # when no header could be read, the reason is the problem: not each expected tensor as missing
        nothing_read = not self.stored and header_problems
        self.problems = header_problems + ([] if nothing_read else
                                           spec_problems(self.expected, self.stored, folder, unreadable))
        self.spec = checkpoint_spec(self.config, self.experts)
        self._parts: dict[str, list[Part]] = {}
        for name, part, _ in self.expected.values():
            self._parts.setdefault(name, []).append(part)

    def dtype_of(self, name: str) -> torch.dtype:
        """On-disk dtype of original-layout tensor ``name`` (bf16 or float32 for floating tensors)."""
        return self.stored[self._parts[name][0].name].dtype

    def files_of(self, name: str) -> list[str]:
        """Names of the files holding original-layout tensor ``name`` (several for a split qkv)."""
        return sorted({self.stored[part.name].file.name for part in self._parts[name]})

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
    try:
        f = open_regular(t.file)  # checked when its header was read; a FIFO swapped in since is refused
    except (FolderError, OSError) as e:
        raise CheckpointError(f"{t.file}: tensor {t.name!r} cannot be read any more ({e})") from None
    with f:
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
def _checkpoint_tensor(ckpt: Checkpoint, name: str, target: torch.Tensor, check_values: bool) -> torch.Tensor:
    """The checkpoint's value for model tensor ``name``, decoding MXFP4 when the model holds dense experts."""

    def read(stored_name: str) -> torch.Tensor:
        value = ckpt.read(stored_name)
        if check_values:
            check_tensor_values(ckpt, stored_name, value)
        return value

    if name in ckpt.spec:
        return read(name)
    if f"{name}.blocks" in ckpt.spec:  # dequantized model, packed checkpoint
        from gptoss_edu.model.mxfp4 import dequantize

        return dequantize(read(f"{name}.blocks"), read(f"{name}.scales"), target.dtype)
    if name.endswith((".blocks", ".scales")):
        raise CheckpointError(
            f"{ckpt.folder}: stores dequantized (bf16) experts, so tensor {name!r} of a packed model has no source; "
            "load it with experts='dequantized'"
        )
    raise CheckpointError(f"{ckpt.folder}: the model has tensor {name!r}, which no checkpoint tensor provides")


def check_tensor_values(ckpt: Checkpoint, name: str, value: torch.Tensor) -> None:
    """Raise ``CheckpointError`` naming the tensor and its file(s) when ``value`` holds NaN/Inf or invalid scales."""
    problem = value_problem(name, value)
    if problem:
        raise CheckpointError(f"{ckpt.folder}: {problem}, stored in {', '.join(ckpt.files_of(name))}; "
                              "pass check_values=False to load it anyway")


def _allocate(model, device: str | torch.device, ckpt: Checkpoint) -> None:
    """Materialise the meta-device model on ``device``; running out of memory is a clear error."""
    try:
        model.to_empty(device=device)
    except (RuntimeError, MemoryError) as e:  # torch reports a failed allocation as a RuntimeError
        size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        raise CheckpointError(f"{ckpt.folder}: the model needs {size / 1e9:.1f} GB on {device}, "
                              f"which could not be allocated ({str(e).splitlines()[0]})") from None


def load_model(path: str | os.PathLike | None = None, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32, experts: str = "packed", progress: bool = True,
               layout: str = "auto", kernels: bool = True, check_values: bool = True, mmap: bool = False,
               context: int | None = None):
    """Build a ``Transformer`` from the checkpoint at ``path`` (either layout, or a bundle name).

    The model is built on the meta device, materialised empty on ``device``, and filled tensor
    by tensor, so memory peaks at the model plus one checkpoint tensor. ``experts="dequantized"``
    decodes the MXFP4 experts into dense ``dtype`` tensors while loading. With ``kernels`` the
    fastest cores for ``device`` go in afterwards (``gptoss_edu.fast.accelerate``: the Triton
    kernels on CUDA, falling back to plain torch with a one-line notice where they cannot run).
    With ``check_values`` (the default) every tensor read is checked for NaN/Inf and MXFP4
    scale bytes that cannot decode (``gptoss_edu.io.values``); a hit is a ``CheckpointError``
    naming the tensor and its file. Every malformed checkpoint raises ``CheckpointError``.
    The loaded model is for inference: its parameters do not require gradients (otherwise a
    forward pass would keep every decoded expert alive for a backward pass that never comes);
    call ``model.requires_grad_(True)`` to fine-tune it. ``mmap=True`` (CPU, packed experts)
    leaves the MXFP4 expert tensors in the checkpoint files, memory-mapped
    (``gptoss_edu.io.mapped``): the process's own memory then holds only the other ~3.7 GB of
    the 20b (attention, embedding, unembedding in bf16). On CUDA the model, a KV cache for
    ``context`` tokens (default ``gptoss_edu.fast.gpu.DEFAULT_CONTEXT``, 8,192) and the buffers of
    a chunked prefill must fit in the GPU's free memory, checked before anything is allocated
    there (``gptoss_edu.fast.gpu.check_gpu_memory``); a ``GpuMemoryError`` names what is needed and
    the longest context that fits.
    """
    from tqdm.auto import tqdm

    from gptoss_edu.model.transformer import Transformer

    ckpt = open_checkpoint(path, layout)
    if mmap and (torch.device(device).type != "cpu" or experts != "packed"):
        raise ValueError(f"mmap=True maps packed experts into CPU memory; got device={device!r}, experts={experts!r}")
    model = Transformer(ckpt.config, device="meta", dtype=dtype, experts=experts)
    if torch.device(device).type == "cuda":
        from gptoss_edu.fast.gpu import DEFAULT_CONTEXT, check_gpu_memory

        held = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        check_gpu_memory(ckpt.config, device, DEFAULT_CONTEXT if context is None else context, weights=held,
                         value_bytes=dtype.itemsize)
    _allocate(model, device, ckpt)
    state = model.state_dict()
    with torch.no_grad():
        for name, target in tqdm(state.items(), desc=f"loading {ckpt.folder.name}", unit="tensor",
                                 disable=not progress):
            if mmap and (mapped := mapped_tensor(ckpt, name)) is not None and mapped.shape == target.shape:
                if check_values:
                    check_tensor_values(ckpt, name, mapped)
                assign_tensor(model, name, mapped)
                continue
            value = _checkpoint_tensor(ckpt, name, target, check_values)
            if value.shape != target.shape:
                raise CheckpointError(f"{ckpt.folder}: tensor {name!r} has shape {list(value.shape)}, "
                                      f"the model expects {list(target.shape)}")
            target.copy_(value.to(target.dtype))
    model.eval().requires_grad_(False)
    if kernels:
        from gptoss_edu.fast import accelerate

        accelerate(model)
    return model
