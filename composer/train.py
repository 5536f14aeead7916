"""Training loop: validation, early stopping, atomic checkpoints, exact resume, DDP.

``train(config)`` writes into ``config.out``:

* ``model.safetensors`` - the best model so far (lowest validation loss);
* ``last.safetensors``  - the latest model with optimizer, scheduler and RNG
  state, written every ``save_every`` steps and at each epoch end;
* ``train_config.json`` - the resolved configuration.

Under ``torchrun`` (``WORLD_SIZE > 1``) it runs DistributedDataParallel
(gloo on CPU, nccl on CUDA) and each rank trains on its share of the windows.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from composer.checkpoint import TEMPO_RANGE, check_codec_matches, read_checkpoint, save_checkpoint
from composer.codec import AnyCodec as Codec
from composer.codec import codec_from_dict
from composer.corpus import load_corpus
from composer.dataset import Piece, WindowSampler, load_pieces, scored_sequences
from composer.errors import CheckpointError, InputError, OutputError
from composer.files import write_bytes_atomic
from composer.model import LSTMModel, ModelConfig, resolve_device
from composer.nll import sequence_nll
from composer.voicegrid import VoiceGridCodec

Callback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (saved beside the checkpoint)."""

    corpus: str  # built corpus name or folder
    out: str  # output folder
    embed_dim: int = 256
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.2  # [0, 1)
    tie_weights: bool | None = None  # share input and output embeddings; None = when embed_dim == hidden_size
    seq_len: int = 384  # most tokens per training window (a piece that fits is one window)
    batch_size: int = 8  # windows per step (per process under torchrun)
    lr: float = 3e-3  # peak learning rate (AdamW)
    weight_decay: float = 0.01
    schedule: str = "cosine"  # cosine (warm-up + cosine decay over steps or time budget) | plateau | constant
    warmup_steps: int = 0
    transpose: bool = True  # the recipe's transposition augmentation
    group_by_length: bool = True  # batch windows of like length together (less padding)
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    epochs: int = 30
    max_steps: int = 0  # 0 = no limit; else stop after this many optimizer steps
    time_budget: float = 0.0  # seconds; 0 = no limit
    patience: int = 5  # epochs without validation improvement before stopping; 0 = off
    save_every: int = 200  # steps between resumable checkpoints
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    threads: int = 0  # torch CPU threads; 0 = torch's default
    motion_input: bool = False  # the voices' last intervals as an input (the SATB grid only; composer.voicemotion)

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "plateau", "constant"):
            raise ValueError(f"schedule must be cosine, plateau or constant, got {self.schedule!r}")
        for name in ("seq_len", "batch_size", "epochs", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("max_steps", "time_budget", "patience", "grad_clip", "threads", "warmup_steps", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu, cuda or mps, got {self.device!r}")
        if self.seq_len < 8:  # WindowSampler's floor, checked before any data is loaded
            raise ValueError(f"seq_len must be >= 8, got {self.seq_len}")
        self.model_config(vocab_size=2)  # the model options, checked before any data is loaded

    def model_config(self, vocab_size: int) -> ModelConfig:
        """The shape of the model this run trains, over ``vocab_size`` token ids."""
        return ModelConfig(
            vocab_size=vocab_size, embed_dim=self.embed_dim, hidden_size=self.hidden_size,
            num_layers=self.num_layers, dropout=self.dropout,
            tie_weights=self.embed_dim == self.hidden_size if self.tie_weights is None else self.tie_weights,
            motion_input=self.motion_input,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-native copy."""
        return asdict(self)


def lm_loss(model: torch.nn.Module, batch: torch.Tensor, pad: int) -> tuple[torch.Tensor, int]:
    """Mean next-token cross-entropy over non-PAD targets, and their count."""
    inputs, targets = batch[:, :-1], batch[:, 1:]  # (B, T)
    logits, _ = model(inputs)  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=pad)
    return loss, int((targets != pad).sum())


# ---- state <-> tensors --------------------------------------------------------------------------
def _optim_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors, layout = {}, {}
    for pid, st in sd["state"].items():
        layout[str(pid)] = sorted(st)
        for name, val in st.items():
            t = val if isinstance(val, torch.Tensor) else torch.tensor(val)
            tensors[f"optim/{pid}/{name}"] = t
    return tensors, {"param_groups": sd["param_groups"], "layout": layout}


def _optim_state(tensors: dict[str, torch.Tensor], doc: dict[str, Any]) -> dict[str, Any]:
    state = {
        int(pid): {name: tensors[f"optim/{pid}/{name}"] for name in names}
        for pid, names in doc["layout"].items()
    }
    return {"state": state, "param_groups": doc["param_groups"]}


def _lr_lambda(cfg: TrainConfig, total_steps: int, st: dict[str, Any]) -> Callable[[int], float]:
    """The lr factor after ``step`` steps: linear warm-up, then cosine down to 10 %.

    The cosine's progress is the larger of the steps done out of ``total_steps``
    and, under a time budget, the time spent (``st["elapsed"]``, validation
    included) out of the budget, so a run stopped by its budget ends annealed.
    """

    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule != "cosine":
            return 1.0
        frac = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
        if cfg.time_budget:
            frac = max(frac, st["elapsed"] / cfg.time_budget)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

    return f


# ---- the loop ----------------------------------------------------------------------------------
#: One JSON object a line beside the checkpoints: every event (start, step with loss, lr and
#: tokens/s, epoch with the validation loss, warning, end), appended across resumes.
METRICS_LOG = "metrics.jsonl"


#: What a run leaves in its folder: a new run there needs ``force`` (``--force``), or continues with ``--resume``.
RUN_FILES = ("last.safetensors", "model.safetensors", METRICS_LOG)


def train(config: TrainConfig, *, resume: bool = False, force: bool = False,
          callback: Callback | None = None) -> dict[str, Any]:
    """Train a model on a built corpus; return the final metrics.

    Parameters
    ----------
    config : TrainConfig
        The run.
    resume : bool
        Continue from ``config.out/last.safetensors`` (same data order, optimizer,
        scheduler and RNG state), so the result matches an uninterrupted run.
    force : bool
        Start a new run in a folder that holds one (its checkpoints and log are replaced); without it
        that is an :class:`OutputError`, so a run is never lost to a command that forgot ``--resume``.
    callback : callable, optional
        Receives progress events (dicts with ``"event"``: ``start``, ``step``,
        ``epoch``, ``end``); the library itself prints nothing.
    """
    user_callback = callback or (lambda e: None)
    held = [name for name in RUN_FILES if (Path(config.out) / name).exists()]
    if held and not resume and not force:
        raise OutputError(f"{config.out} holds a run already ({', '.join(held)}): --resume continues it, "
                          "--force starts it again")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(config.device)
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if config.threads:
        torch.set_num_threads(config.threads)
    corpus = load_corpus(config.corpus)
    codec = corpus.codec
    train_pieces = load_pieces(corpus, "train")
    if not train_pieces:
        raise InputError(f"corpus {corpus.name!r} has no training pieces")
    valid_pieces = load_pieces(corpus, "valid")
    warning = None
    if not valid_pieces:  # validating on training pieces measures memory, not music: say so
        valid_pieces = train_pieces[: max(1, len(train_pieces) // 20)]
        warning = (f"corpus {corpus.name!r} has no validation pieces: validating on {len(valid_pieces)} of its "
                   "training pieces, so the validation loss (and the best model) favour memorizing them")
    recipe = corpus.recipe
    sampler = WindowSampler(
        codec,
        train_pieces,
        config.seq_len,
        config.batch_size,
        transpose=tuple(recipe["augment"]["transpose"]) if config.transpose else (0, 0),  # type: ignore[arg-type]
        pitch_range=tuple(recipe["augment"]["pitch_range"]),  # type: ignore[arg-type]
        seed=config.seed,
        rank=rank,
        world=world,
        group_by_length=config.group_by_length,
    )
    if config.motion_input and not isinstance(codec, VoiceGridCodec):
        raise InputError(f"the motion input needs a corpus in the SATB grid code (e.g. bach-chorales-satb); "
                         f"{corpus.name!r} is in {codec.spec.kind}")
    torch.manual_seed(config.seed)
    model = LSTMModel(config.model_config(codec.vocab_size)).to(device)
    model.set_voice_tables(codec)
    net: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = sampler.num_batches(0)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    st: dict[str, Any] = {
        "epoch": 0, "batch": 0, "step": 0, "best_val": float("inf"), "bad_epochs": 0,
        "history": [], "elapsed": 0.0, "cpu": 0.0, "tokens": 0,
    }
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(config, total_steps, st))  # reads st["elapsed"]
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
        if config.schedule == "plateau"
        else None
    )
    out = Path(config.out)
    if resume:
        st.update(_resume(out / "last.safetensors", model, opt, sched, plateau, codec, config))
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(json.dumps(config.to_dict(), indent=1).encode(), out / "train_config.json", force=True)
    base_meta = {
        "name": out.name,
        "corpus": corpus.name,
        "corpus_manifest_hash": corpus.manifest.get("hash"),
        "training": config.to_dict(),
        "params": model.num_parameters(),
        "world_size": world,
        "device": device.type,
        "torch": torch.__version__,
        "default_tempo": float(np.clip(np.median([p.tempo or 120.0 for p in train_pieces]), *TEMPO_RANGE)),
    }
    log = out / METRICS_LOG if rank == 0 else None
    if log is not None and not resume:
        log.write_text("")  # a new run starts a new log; --resume goes on appending

    def emit(event: dict[str, Any]) -> None:
        """Hand an event to the caller, and append it to ``OUT/metrics.jsonl`` (rank 0)."""
        user_callback(event)
        if log is not None:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(_finite({"time": round(time.time(), 3), **event})) + "\n")

    if warning is not None:
        emit({"event": "warning", "message": warning})
    emit({"event": "start", "total_steps": total_steps, "steps_per_epoch": steps_per_epoch,
          "params": model.num_parameters(), "device": str(device), "resumed": resume, **st})

    def save_last() -> None:
        if rank != 0:
            return
        tens, doc = _optim_tensors(opt)
        tens["rng/torch"] = torch.get_rng_state()
        meta = dict(base_meta, train_state=dict(st), optim=doc, sched=sched.state_dict(),
                    plateau=plateau.state_dict() if plateau else None)
        save_checkpoint(out / "last.safetensors", model, codec, meta, extra=tens)

    def validate(stop: bool) -> bool:
        """Validate at the end of an epoch or of the run, keep the best model; True = stop now."""
        val = _validate(model, codec, valid_pieces, device)
        st["history"].append({"epoch": st["epoch"], "step": st["step"], "val_loss": val,
                              "elapsed": round(st["elapsed"], 1), "cpu": round(st["cpu"], 1)})
        if plateau:
            plateau.step(val)
        improved = val < st["best_val"] - 1e-4
        if improved:
            st["best_val"], st["bad_epochs"] = val, 0
            if rank == 0:
                save_checkpoint(out / "model.safetensors", model, codec,
                                dict(base_meta, best_metrics={"val_loss": val, "step": st["step"],
                                     "epoch": st["epoch"]}, history=st["history"]))
        else:
            st["bad_epochs"] += 1
        if not stop:
            st["epoch"] += 1
            st["batch"] = 0
        if config.patience and st["bad_epochs"] >= config.patience:
            stop = True
        st["stopped"] = stop
        save_last()
        emit({"event": "epoch", "epoch": st["epoch"], "val_loss": val, "best_val": st["best_val"],
              "improved": improved, "step": st["step"]})
        return stop

    t0 = time.monotonic() - st["elapsed"]
    c0 = time.process_time() - st["cpu"]  # CPU seconds: a clock that a busy machine does not stretch
    stop = _should_stop(config, st, world) or bool(
        config.patience and st["bad_epochs"] >= config.patience
    )
    net.train()
    while not stop and st["epoch"] < config.epochs:
        batches = sampler.batches(st["epoch"])
        for bi in range(st["batch"], len(batches)):
            tick = time.perf_counter()
            batch = batches[bi].to(device)
            loss, ntok = lm_loss(net, batch, codec.pad)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            st["elapsed"] = _agreed_elapsed(time.monotonic() - t0, config, world)  # the scheduler reads it
            st["cpu"] = time.process_time() - c0
            if plateau is None or st["step"] < config.warmup_steps:  # LambdaLR would undo the plateau's cuts
                sched.step()
            st["step"] += 1
            st["batch"] = bi + 1
            st["tokens"] += ntok
            emit({"event": "step", "step": st["step"], "epoch": st["epoch"], "loss": float(loss.detach()),
                  "tokens_per_s": ntok * world / max(1e-9, time.perf_counter() - tick),
                  "lr": opt.param_groups[0]["lr"], "total_steps": total_steps})
            stop = _should_stop(config, st, world)
            if st["step"] % config.save_every == 0 or stop:
                save_last()
            if stop:
                break
        if st["batch"] >= len(batches) or stop:
            stop = validate(stop)
    if stop and st["step"] and (not st["history"] or st["history"][-1]["step"] != st["step"]):
        # Killed after the stopping step's save and before its validation: --resume finds the
        # run finished but never validated (and no best model written): validate it now.
        validate(stop)
    emit({"event": "end", **st})
    best = out / "model.safetensors"
    return {"best_val_loss": st["best_val"], "steps": st["step"], "epochs": st["epoch"],
            "elapsed": st["elapsed"], "tokens": st["tokens"], "history": st["history"],
            "best_model": str(best.resolve()) if best.is_file() else None}


def _finite(value: Any) -> Any:
    """``value`` with infinities and NaN as None, so each line is standard JSON (no ``Infinity``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _agreed_elapsed(elapsed: float, config: TrainConfig, world: int) -> float:
    """The elapsed time, the same on every rank under a time budget (the lr depends on it)."""
    if world > 1 and config.time_budget:
        import torch.distributed as dist

        t = torch.tensor([elapsed], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t.item())
    return elapsed


def _should_stop(config: TrainConfig, st: dict[str, Any], world: int) -> bool:
    stop = bool(config.max_steps and st["step"] >= config.max_steps)
    stop = stop or bool(config.time_budget and st["elapsed"] >= config.time_budget)
    if world > 1:  # every rank must agree, or DDP hangs
        import torch.distributed as dist

        flag = torch.tensor([int(stop)])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        stop = bool(flag.item())
    return stop


def _validate(model: LSTMModel, codec: Codec, pieces: list[Piece], device: torch.device) -> float:
    total, count = sequence_nll(model, scored_sequences(codec, pieces), codec.pad, device)
    return total / max(1, count)


#: Data-order options added after the first checkpoints, with the value those runs had.
_BEFORE_DATA_OPTIONS = {"transpose": True, "group_by_length": False}


def _resume(
    path: Path,
    model: LSTMModel,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LambdaLR,
    plateau: Any,
    codec: Codec,
    config: TrainConfig,
) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(f"nothing to resume: {path} does not exist")
    tensors, meta = read_checkpoint(path)
    if "optim" not in meta or "train_state" not in meta:
        raise CheckpointError(f"{path} holds a model's weights only, not a training run's state: nothing to resume")
    check_codec_matches(codec_from_dict(meta["tokenizer"]), codec)
    if ModelConfig(**meta["model"]) != model.config:
        raise CheckpointError(f"{path}: model shape differs from the resumed run's options")
    weights = {k: v for k, v in tensors.items() if not k.startswith(("optim/", "rng/"))}
    model.load_state_dict(weights, strict=not model.config.tie_weights)
    opt.load_state_dict(_optim_state(tensors, meta["optim"]))
    sched.load_state_dict(meta["sched"])
    if plateau and meta.get("plateau"):
        plateau.load_state_dict(meta["plateau"])
    torch.set_rng_state(tensors["rng/torch"])
    old = dict(_BEFORE_DATA_OPTIONS, **meta.get("training", {}))
    changed = {k for k in ("seq_len", "batch_size", "seed", *_BEFORE_DATA_OPTIONS) if old.get(k) != getattr(config, k)}
    if changed:
        raise CheckpointError(f"{path}: cannot resume with a different {', '.join(sorted(changed))}")
    return dict(meta["train_state"])

