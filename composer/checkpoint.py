"""The only reader and writer of checkpoints.

A checkpoint is ONE safetensors file: the weights, plus a JSON document in the
safetensors header (key ``"composer"``) holding ``format_version``, the model
config, the tokenizer (codec) config, the training config, the metrics history
and the corpus manifest hash.  One file means one atomic rename: a crash leaves
the old checkpoint or the new one, never a torn pair.  Nothing is ever
unpickled: ``.pt``/``.pth``/``.ckpt``/``.pkl`` files are refused.

A training-state file (``last.safetensors``) carries the optimizer tensors
under ``optim/...`` and the scheduler/RNG state in its JSON, for ``--resume``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.codec import AnyCodec, codec_from_dict
from composer.config import ModelConfig
from composer.errors import CheckpointError
from composer.files import NotARegularFile, read_regular_file, write_bytes_atomic
from composer.paths import checkpoints_dir, user_models_dir

if TYPE_CHECKING:
    import numpy as np
    import torch

    from composer.model import LSTMModel

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
DEFAULT_MODEL = "chorales"
#: Largest checkpoint file read: a model at the size limit (:data:`composer.model.MAX_PARAMS`, 800 MB
#: in float32) with its optimizer state (two more copies) in ``last.safetensors``, and room to spare.
MAX_CHECKPOINT_BYTES = 4 * 2**30
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin")


@dataclass
class Checkpoint:
    """A loaded model with its codec and metadata.

    The weights are read as numpy arrays (no torch: the live player samples them with
    :class:`composer.inference.ArrayLSTM`); :attr:`model` builds the torch model on first use.
    """

    arrays: dict[str, np.ndarray]  # the stored tensors (tied models: no head.weight)
    config: ModelConfig
    codec: AnyCodec
    meta: dict[str, Any]
    path: Path
    device: str = "cpu"

    @cached_property
    def model(self) -> LSTMModel:
        """The torch :class:`~composer.model.LSTMModel` (in evaluation mode, on :attr:`device`)."""
        import torch

        from composer.model import LSTMModel

        model = LSTMModel(self.config)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in self.arrays.items()},
                              strict=not self.config.tie_weights)
        if self.config.tie_weights:
            model.head.weight = model.embed.weight
        model.set_voice_tables(self.codec)
        model.eval()
        return model.to(self.device)

    @property
    def name(self) -> str:
        """The checkpoint's name (its folder name)."""
        return str(self.meta.get("name") or self.path.parent.name)


# ---- writing ---------------------------------------------------------------------------------
def save_checkpoint(
    path: str | Path,
    model: LSTMModel,
    codec: AnyCodec,
    meta: dict[str, Any],
    extra: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write model weights (+ ``extra`` tensors) and metadata to one file, atomically.

    Parameters
    ----------
    path : path
        Target ``.safetensors`` file (folders are created).
    model : LSTMModel
        The model; its config is stored.
    codec : Codec or VoiceGridCodec
        The tokenizer; its config and hash are stored.
    meta : dict
        JSON-native extras: training config, metrics, corpus hash, ...
    extra : dict of tensors, optional
        More tensors (optimizer state) stored beside the weights.
    """
    from safetensors.torch import save

    tensors = {
        k: v.detach().to("cpu").contiguous()
        for k, v in model.state_dict().items()
        if not (model.config.tie_weights and k == "head.weight")
    }
    for k, v in (extra or {}).items():
        tensors[k] = v.detach().to("cpu").contiguous()
    doc = dict(meta)
    doc.update(
        format_version=FORMAT_VERSION,
        model=model.config.to_dict(),
        tokenizer=codec.to_dict(),
    )
    blob = save(tensors, metadata={"composer": json.dumps(doc, sort_keys=True)})
    return write_bytes_atomic(blob, path, force=True)


# ---- reading ---------------------------------------------------------------------------------
def resolve(ref: str | Path | None) -> Path:
    """The weights file a checkpoint reference names.

    ``None`` is the default bundled model; a bare name is looked up among the
    bundled models, then the user's models folder (a folder of that name in the
    working directory without a ``model.safetensors`` - say an output folder -
    does not hide the model); a folder means its ``model.safetensors``; a file
    is itself.
    """
    ref = DEFAULT_MODEL if ref is None or str(ref) == "" else ref
    path = Path(ref).expanduser()
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path}: refusing to load a pickled checkpoint ({path.suffix}); unpickling runs "
            "arbitrary code. composer checkpoints are .safetensors files with a JSON header"
        )
    bare_name = len(path.parts) == 1 and not str(ref).endswith(("/", "\\"))
    if path.is_dir() and (path / WEIGHTS).exists():
        path = path / WEIGHTS
    elif bare_name and not path.is_file():  # "chorales" is the model even beside an output folder chorales/
        for base in (checkpoints_dir(), user_models_dir()):
            if (base / str(ref) / WEIGHTS).exists():
                return base / str(ref) / WEIGHTS
        known = ", ".join(m["name"] for m in list_models()) or "none"
        also = f"; the folder {path}/ has no {WEIGHTS}" if path.is_dir() else ""
        raise CheckpointError(f"no model named {str(ref)!r} (available: {known}){also}")
    if path.is_dir():
        path = path / WEIGHTS
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    return path


_NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
                 "U8": "u1", "BOOL": "?"}


def _load_numpy(data: bytes) -> dict[str, Any]:
    """The numpy arrays of a safetensors file's bytes.

    bfloat16, which numpy has no type for (nor does ``safetensors.numpy`` read it), is widened to
    float32 exactly.
    """
    import numpy as np
    from safetensors.numpy import load

    try:
        return load(data)
    except KeyError:  # a dtype numpy has no name for: read the file by its header instead
        pass
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    body = memoryview(data)[8 + size :]
    out: dict[str, Any] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (lo, hi) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        if not 0 <= lo <= hi <= len(body):
            raise ValueError(f"tensor {name} lies outside the file")
        raw = body[lo:hi]
        if dtype == "BF16":
            arr = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
        elif dtype in _NUMPY_DTYPES:
            arr = np.frombuffer(raw, _NUMPY_DTYPES[dtype]).copy()
        else:
            raise ValueError(f"tensor {name} has dtype {dtype}, which composer does not read")
        out[name] = arr.reshape(shape)
    return out


def read_checkpoint(path: str | Path, framework: str = "pt") -> tuple[dict[str, Any], dict[str, Any]]:
    """Tensors and metadata of a checkpoint file, validated.

    ``framework`` ``"pt"`` gives torch tensors, ``"np"`` numpy arrays (and imports no torch).

    Raises
    ------
    CheckpointError
        If the file is not safetensors, its JSON is missing or malformed, or
        its format version is unknown.
    """
    from safetensors import SafetensorError

    if framework == "np":
        load: Any = _load_numpy
    else:
        from safetensors.torch import load

    path = Path(path)
    try:
        data = read_regular_file(path, MAX_CHECKPOINT_BYTES)
        if len(data) < 8 or int.from_bytes(data[:8], "little") > len(data) - 8:
            raise CheckpointError(f"{path}: not a safetensors file (a pickle or a torn file?)")
        tensors = load(data)
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    except CheckpointError:
        raise
    except NotARegularFile as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except (SafetensorError, OSError, ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: safetensors header nested too deeply") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: safetensors header is not an object")
    raw = (header.get("__metadata__") or {}).get("composer")
    if raw is not None and not isinstance(raw, str):
        raise CheckpointError(f"{path}: composer metadata is not a string")
    if raw is None:
        raise CheckpointError(f"{path}: no composer metadata in the safetensors header")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: malformed checkpoint JSON ({exc})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: checkpoint JSON nested too deeply") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: checkpoint JSON is not an object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unknown checkpoint format_version {version!r} (this composer reads {FORMAT_VERSION})"
        )
    return tensors, meta


def load_checkpoint(ref: str | Path | None = None, device: str = "cpu") -> Checkpoint:
    """Load a checkpoint (its torch model, built on first use, goes to ``device``; CPU by default).

    Reads and checks the weights as numpy arrays: importing torch waits for :attr:`Checkpoint.model`.

    Raises
    ------
    CheckpointError
        Naming what is wrong: missing, pickled, malformed, or tensors that do
        not match the stored config.
    """
    import numpy as np

    path = resolve(ref)
    tensors, meta = read_checkpoint(path, framework="np")
    try:
        if not isinstance(meta.get("model"), dict):
            raise ValueError("'model' must be an object")
        config = ModelConfig(**meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model config ({exc})") from None
    check_meta(meta, path)
    try:
        tok = meta.get("tokenizer", {})
        if not isinstance(tok, dict):
            raise CheckpointError("bad tokenizer config: 'tokenizer' must be an object")
        codec = codec_from_dict(tok)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if codec.vocab_size != config.vocab_size:
        raise CheckpointError(
            f"{path}: tokenizer has {codec.vocab_size} tokens but the model expects {config.vocab_size}"
        )
    expected = config.weight_shapes()
    weights = {k: v for k, v in tensors.items() if not k.startswith(("optim/", "rng/"))}  # (a run's last.safetensors)
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: tensors do not match the model config (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for k, v in weights.items():
        if tuple(v.shape) != expected[k]:
            raise CheckpointError(f"{path}: tensor {k} has shape {tuple(v.shape)}, config says {expected[k]}")
        if v.dtype.kind != "f":
            raise CheckpointError(f"{path}: tensor {k} has dtype {v.dtype}, not floating point")
        if not bool(np.isfinite(v).all()):
            raise CheckpointError(f"{path}: tensor {k} holds NaN or infinite values")
    arrays = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}  # copies: the file's bytes go
    return Checkpoint(arrays, config, codec, meta, path, device)


#: Sane bounds of a checkpoint's default tempo (bpm); ``export --tempo`` and the CLI's ``--tempo``
#: stay inside them.
TEMPO_RANGE = (10.0, 400.0)


def check_meta(meta: dict[str, Any], path: str | Path = "checkpoint") -> None:
    """Refuse metadata a piece is written from: ``default_program`` (0..127), ``default_tempo``, ``name``.

    Raises
    ------
    CheckpointError
        Naming the file and the field.
    """
    program = meta.get("default_program", 0)
    if isinstance(program, bool) or not isinstance(program, int) or not 0 <= program <= 127:
        raise CheckpointError(f"{path}: default_program must be an integer in 0..127, got {program!r}")
    tempo = meta.get("default_tempo", 100.0)
    lo, hi = TEMPO_RANGE
    if isinstance(tempo, bool) or not isinstance(tempo, int | float) or not lo <= tempo <= hi:
        raise CheckpointError(f"{path}: default_tempo must be a number in {lo:g}..{hi:g} bpm, got {tempo!r}")
    if not isinstance(meta.get("name", ""), str | None):
        raise CheckpointError(f"{path}: name must be a string, got {meta['name']!r}")


def check_codec_matches(ckpt_codec: AnyCodec, corpus_codec: AnyCodec, what: str = "corpus") -> None:
    """Raise ``CheckpointError`` if a checkpoint's tokenizer differs from a corpus's."""
    if ckpt_codec.hash != corpus_codec.hash:
        a, b = ckpt_codec.to_dict(), corpus_codec.to_dict()
        diffs = [k for k in a["spec"] if a["spec"][k] != b["spec"].get(k)]
        if a["styles"] != b["styles"]:
            diffs.append("styles")
        raise CheckpointError(
            f"checkpoint tokenizer ({ckpt_codec.hash}) differs from the {what}'s ({corpus_codec.hash}): "
            f"{', '.join(diffs) or 'vocabulary'}"
        )


def list_models() -> list[dict[str, Any]]:
    """Bundled and user checkpoints with a few facts from their model cards."""
    out = []
    bundled = {w.parent.name for w in checkpoints_dir().glob(f"*/{WEIGHTS}")}
    for origin, base in (("bundled", checkpoints_dir()), ("user", user_models_dir())):
        for weights in sorted(base.resolve().glob(f"*/{WEIGHTS}")):
            entry: dict[str, Any] = {"name": weights.parent.name, "origin": origin, "path": str(weights)}
            if origin == "user" and weights.parent.name in bundled:  # -m NAME finds the bundled one first
                entry["shadowed"] = f"-m {weights.parent.name} is the bundled model; -m {weights.parent} is this one"
            try:
                _, meta = read_checkpoint(weights, framework="np")
            except CheckpointError as exc:
                entry["error"] = str(exc)
            else:
                entry.update(
                    corpus=meta.get("corpus", ""),
                    params=meta.get("params"),
                    metrics=meta.get("test_metrics") or meta.get("best_metrics") or {},
                    card=str(weights.parent / "card.md") if (weights.parent / "card.md").exists() else None,
                    size_mb=round(weights.stat().st_size / 2**20, 2),
                )
            out.append(entry)
    return out
