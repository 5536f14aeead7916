"""Training: a tiny end-to-end run, exact resume (in process and after SIGKILL), DDP, the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import typing
from pathlib import Path
from typing import Any

import pytest
import torch
from _corpus_fixtures import TINY, TinyCorpus, subprocess_env, tiny_corpus, tiny_train_config
from helpers import one_line_error

from composer.checkpoint import load_checkpoint, read_checkpoint
from composer.cli import train_cmd
from composer.corpus import load_corpus
from composer.dataset import load_pieces, scored_sequences
from composer.errors import CheckpointError, CorpusError
from composer.model import LSTMModel, ModelConfig
from composer.nll import sequence_nll
from composer.train import TrainConfig, train

EPOCHS = 6  # the reference run: 6 epochs of ~10 steps, about a second of CPU
VENV_BIN = Path(sys.executable).parent
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(_private_cache) -> TinyCorpus:  # type: ignore[no-untyped-def]
    return tiny_corpus()


@pytest.fixture(scope="module")
def reference(tiny: TinyCorpus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One uninterrupted run that several tests compare against."""
    out = tmp_path_factory.mktemp("ref")
    events: list[dict[str, Any]] = []
    result = train(tiny_train_config(out, epochs=EPOCHS), callback=events.append)
    return {"out": out, "result": result, "events": events}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    tensors, _ = read_checkpoint(path)
    return {k: v for k, v in tensors.items() if not k.startswith(("optim/", "rng/"))}


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"{k} differs by {(wa[k] - wb[k]).abs().max():.3g}"


def _val_losses(history: list[dict[str, Any]]) -> list[tuple[int, int, float]]:
    return [(h["epoch"], h["step"], h["val_loss"]) for h in history]


# ---- end to end ---------------------------------------------------------------------------------
def test_tiny_run_writes_files_and_learns(reference: dict[str, Any]) -> None:
    out, result, events = reference["out"], reference["result"], reference["events"]
    for name in ("model.safetensors", "last.safetensors", "train_config.json"):
        assert (out / name).is_file()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    cfg = tiny_train_config(out, epochs=EPOCHS)
    assert json.loads((out / "train_config.json").read_text()) == cfg.to_dict()

    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == EPOCHS
    start = events[0]
    assert result["steps"] == start["total_steps"] == kinds.count("step")
    assert start["steps_per_epoch"] * EPOCHS == start["total_steps"]
    steps = [e for e in events if e["event"] == "step"]
    assert all(math.isfinite(e["loss"]) and e["tokens_per_s"] > 0 for e in steps)
    assert result["tokens"] > 0 and len(result["history"]) == EPOCHS

    # The validation loss beats the same model untrained (same seed, same init).
    corpus = load_corpus(TINY)
    valid = load_pieces(corpus, "valid")
    torch.manual_seed(cfg.seed)
    untrained = LSTMModel(ModelConfig(vocab_size=corpus.codec.vocab_size, embed_dim=cfg.embed_dim,
                                      hidden_size=cfg.hidden_size, num_layers=cfg.num_layers,
                                      dropout=cfg.dropout))
    nll, n = sequence_nll(untrained, scored_sequences(corpus.codec, valid), corpus.codec.pad, torch.device("cpu"))
    assert nll / n > math.log(corpus.codec.vocab_size) - 0.5  # untrained ~ uniform
    assert result["best_val_loss"] < nll / n - 1.0

    best = load_checkpoint(out / "model.safetensors")
    assert best.meta["best_metrics"]["val_loss"] == pytest.approx(result["best_val_loss"])
    assert best.meta["corpus"] == TINY and best.meta["world_size"] == 1
    assert best.meta["training"] == cfg.to_dict()
    nll_best, n_best = sequence_nll(best.model, scored_sequences(best.codec, valid), best.codec.pad,
                                   torch.device("cpu"))
    assert nll_best / n_best == pytest.approx(result["best_val_loss"], rel=1e-5)
    _, last_meta = read_checkpoint(out / "last.safetensors")
    assert last_meta["train_state"]["step"] == result["steps"]
    assert last_meta["train_state"]["epoch"] == EPOCHS


def test_lr_warms_up_then_decays(reference: dict[str, Any]) -> None:
    cfg = tiny_train_config(reference["out"], epochs=EPOCHS)
    lrs = [e["lr"] for e in reference["events"] if e["event"] == "step"]
    assert lrs[0] == pytest.approx(cfg.lr)  # after step 1 of a 2-step warm-up
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:], strict=False))  # cosine: never rises
    assert lrs[-1] == pytest.approx(0.1 * cfg.lr, rel=1e-3)  # floor at 10 %


def test_max_steps_time_budget_and_patience(tiny: TinyCorpus, tmp_path: Path) -> None:
    r = train(tiny_train_config(tmp_path / "a", max_steps=4))
    assert r["steps"] == 4 and (tmp_path / "a" / "model.safetensors").exists()
    _, meta = read_checkpoint(tmp_path / "a" / "last.safetensors")
    assert meta["train_state"]["step"] == 4 and meta["train_state"]["stopped"]
    r = train(tiny_train_config(tmp_path / "b", time_budget=1e-9, epochs=50))
    assert r["steps"] == 1
    # lr so small nothing improves by 1e-4: stop after `patience` bad epochs.
    r = train(tiny_train_config(tmp_path / "c", lr=1e-9, epochs=50, patience=2))
    assert r["epochs"] == 3 and len(r["history"]) == 3  # best at 0, bad at 1 and 2


def test_time_budget_sets_the_schedule_horizon(
    tiny: TinyCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped by its time budget ends annealed (lr at the floor), not mid-cosine.

    A fake clock advances one second per reading (one reading per step): a 12-second
    budget stops a 50-epoch run at step 12, with the lr at the cosine's 10 % floor.
    """
    now = [0.0]

    def tick() -> float:
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr("composer.train.time.monotonic", tick)
    events: list[dict[str, Any]] = []
    cfg = tiny_train_config(tmp_path, epochs=50, warmup_steps=0, time_budget=12.0)
    r = train(cfg, callback=events.append)
    lrs = [e["lr"] for e in events if e["event"] == "step"]
    assert r["steps"] == len(lrs) == 12 < events[0]["total_steps"]
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))  # decaying at every step
    assert lrs[5] == pytest.approx(cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * 6 / 12))))  # by time
    assert lrs[-1] == pytest.approx(0.1 * cfg.lr)  # annealed at the budget


def test_config_validation() -> None:
    base: dict[str, Any] = dict(corpus=TINY, out="x")
    for bad in (dict(schedule="foo"), dict(seq_len=0), dict(seq_len=7), dict(batch_size=0), dict(epochs=0),
                dict(save_every=0), dict(lr=0.0), dict(max_steps=-1), dict(time_budget=-1.0),
                dict(patience=-1), dict(grad_clip=-1.0), dict(device="tpu")):
        (name,) = bad
        with pytest.raises(ValueError, match=name):
            TrainConfig(**(base | bad))
    with pytest.raises(ValueError, match="seq_len must be >= 8, got 7"):  # a window holds the prefix and music
        TrainConfig(**base, seq_len=7)
    TrainConfig(**base, device="cuda:1")
    TrainConfig(**base, seq_len=8)


@pytest.mark.parametrize("bad", [dict(dropout=1.5), dict(embed_dim=0), dict(threads=-2), dict(warmup_steps=-1)])
def test_config_validates_model_options(bad: dict[str, Any]) -> None:
    (name,) = bad
    with pytest.raises(ValueError, match=name):
        TrainConfig(corpus=TINY, out="x", **bad)
    with pytest.raises(ValueError, match="tie_weights"):
        TrainConfig(corpus=TINY, out="x", embed_dim=128, hidden_size=256, tie_weights=True)


def test_tied_embeddings_by_default_when_widths_match() -> None:
    assert TrainConfig(corpus=TINY, out="x").model_config(10).tie_weights  # 256 = 256
    assert not TrainConfig(corpus=TINY, out="x", embed_dim=128).model_config(10).tie_weights
    assert not TrainConfig(corpus=TINY, out="x", tie_weights=False).model_config(10).tie_weights


# ---- resume -----------------------------------------------------------------------------------
class Killed(Exception):
    """Stands for a crash between two steps."""


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [5, 11, 34])
def test_resume_after_crash_equals_uninterrupted(
    reference: dict[str, Any], tmp_path: Path, kill_at: int
) -> None:
    """A run that dies at ``kill_at`` and is resumed ends bit-identical to the reference.

    ``save_every=3``: the crash at step 5 resumes from step 3 (mid-epoch); at 11 from
    the end of epoch 0 (step 10); at 34 from step 33, inside epoch 3.
    """
    cfg = tiny_train_config(tmp_path, epochs=EPOCHS)

    def crash(e: dict[str, Any]) -> None:
        if e["event"] == "step" and e["step"] == kill_at:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, callback=crash)
    _, meta = read_checkpoint(tmp_path / "last.safetensors")
    assert meta["train_state"]["step"] < kill_at
    events: list[dict[str, Any]] = []
    result = train(cfg, resume=True, callback=events.append)
    assert events[0]["resumed"] and events[0]["step"] == meta["train_state"]["step"]
    ref = reference["result"]
    assert result["steps"] == ref["steps"]
    assert _val_losses(result["history"]) == _val_losses(ref["history"])
    _assert_same_weights(tmp_path / "last.safetensors", reference["out"] / "last.safetensors")
    _assert_same_weights(tmp_path / "model.safetensors", reference["out"] / "model.safetensors")
    ta, _ = read_checkpoint(tmp_path / "last.safetensors")
    tb, _ = read_checkpoint(reference["out"] / "last.safetensors")
    for k in ta:  # optimizer moments and RNG state too
        assert torch.equal(ta[k], tb[k]), k


def test_resume_after_max_steps_constant_schedule(tiny: TinyCorpus, tmp_path: Path) -> None:
    """Stopping with max_steps and resuming without gives the same weights (schedule permitting).

    Under the cosine schedule ``max_steps`` also sets the decay horizon, so only a
    constant schedule is comparable; the stop adds a mid-epoch validation to the history.
    """
    full = tiny_train_config(tmp_path / "a", epochs=3, schedule="constant")
    ref = train(full)
    train(tiny_train_config(tmp_path / "b", epochs=3, schedule="constant", max_steps=7))
    r = train(tiny_train_config(tmp_path / "b", epochs=3, schedule="constant"), resume=True)
    assert r["steps"] == ref["steps"] and r["history"][0]["step"] == 7
    _assert_same_weights(tmp_path / "a" / "last.safetensors", tmp_path / "b" / "last.safetensors")


def test_resume_after_a_kill_between_the_last_save_and_validation(
    tiny: TinyCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 item 13: the stopping step is saved, then the process dies before validating.

    Before, ``--resume`` found the run finished, skipped validation and reported a best model
    that was never written.  Now it validates and writes it, as the uninterrupted run did.
    """
    import composer.train as train_mod

    cfg = tiny_train_config(tmp_path / "run", epochs=3, max_steps=4)
    real = train_mod._validate

    def killed(*args: Any, **kwargs: Any) -> float:
        raise Killed

    monkeypatch.setattr(train_mod, "_validate", killed)
    with pytest.raises(Killed):
        train(cfg)
    assert (tmp_path / "run" / "last.safetensors").is_file()
    assert not (tmp_path / "run" / "model.safetensors").exists()
    monkeypatch.setattr(train_mod, "_validate", real)
    resumed = train(cfg, resume=True)
    ref = train(tiny_train_config(tmp_path / "ref", epochs=3, max_steps=4))
    assert resumed["best_model"] == str(tmp_path / "run" / "model.safetensors")
    assert _val_losses(resumed["history"]) == _val_losses(ref["history"]) and resumed["history"][-1]["step"] == 4
    _assert_same_weights(tmp_path / "run" / "model.safetensors", tmp_path / "ref" / "model.safetensors")
    again = train(cfg, resume=True)  # nothing left to do: no second validation
    assert _val_losses(again["history"]) == _val_losses(ref["history"])


def test_train_cli_names_no_best_model_that_does_not_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from composer.cli import app

    def fake_train(config: Any, resume: bool = False, force: bool = False, callback: Any = None) -> dict[str, Any]:
        return {"best_val_loss": float("inf"), "steps": 3, "epochs": 0, "elapsed": 1.0, "tokens": 10,
                "history": [], "best_model": None}

    monkeypatch.setattr("composer.train.train", fake_train)
    result = CliRunner().invoke(app, ["train", TINY, "-o", "x", "-q"])
    assert result.exit_code == 0, result.output
    assert "no model was validated" in result.stdout and "best model:" not in result.stdout


def test_resume_refusals(tiny: TinyCorpus, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny_train_config(tmp_path / "none"), resume=True)
    train(tiny_train_config(tmp_path, max_steps=2))
    with pytest.raises(CheckpointError, match="seq_len"):
        train(tiny_train_config(tmp_path, seq_len=24), resume=True)
    with pytest.raises(CheckpointError, match="model shape"):
        train(tiny_train_config(tmp_path, hidden_size=24), resume=True)


def test_plateau_schedule_lowers_the_lr(
    tiny: TinyCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[dict[str, Any]] = []
    reductions: list[int] = []
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau
    real = plateau._reduce_lr

    def spy(self, epoch):  # type: ignore[no-untyped-def]
        reductions.append(epoch)
        return real(self, epoch)

    monkeypatch.setattr(plateau, "_reduce_lr", spy)
    # lr so small the validation loss cannot improve by ReduceLROnPlateau's 1e-4 threshold:
    # epochs 1 and 2 are bad, so the lr halves after epoch 2.
    cfg = tiny_train_config(tmp_path, lr=1e-7, warmup_steps=0, schedule="plateau", epochs=4)
    train(cfg, callback=events.append)
    assert reductions  # the plateau scheduler did decide to reduce...
    last_epoch = [e["lr"] for e in events if e["event"] == "step" and e["epoch"] == 3]
    assert last_epoch and max(last_epoch) <= 0.5 * cfg.lr * (1 + 1e-6)  # ...and it should hold


# ---- real processes ----------------------------------------------------------------------------
def _cli_args(out: Path, epochs: int = EPOCHS) -> list[str]:
    cfg = tiny_train_config(out, epochs=epochs)
    args = [sys.executable, "-m", "composer", "train", TINY, "--out", str(out), "--quiet"]
    for field in ("embed_dim", "hidden_size", "num_layers", "dropout", "seq_len", "batch_size", "lr",
                  "warmup_steps", "epochs", "save_every", "patience", "seed", "device", "threads"):
        args += [f"--{field.replace('_', '-')}", str(getattr(cfg, field))]
    return args


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(reference: dict[str, Any], tmp_path: Path) -> None:
    """kill -9 after the first resumable checkpoint, then ``--resume``: same final weights."""
    out = tmp_path / "run"
    env = subprocess_env()
    proc = subprocess.Popen(_cli_args(out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "last.safetensors").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        stdout, stderr = proc.communicate(timeout=60)
    if proc.returncode != -signal.SIGKILL:  # it finished first: nothing was interrupted
        pytest.skip(f"run finished before the kill (rc {proc.returncode})")
    _, meta = read_checkpoint(out / "last.safetensors")  # whatever the kill hit, this is whole
    killed_at = meta["train_state"]["step"]
    assert killed_at < reference["result"]["steps"]
    done = subprocess.run(_cli_args(out) + ["--resume"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "train_config.json").read_text()) == tiny_train_config(
        out, epochs=EPOCHS).to_dict()
    _assert_same_weights(out / "last.safetensors", reference["out"] / "last.safetensors")
    _assert_same_weights(out / "model.safetensors", reference["out"] / "model.safetensors")


@pytest.mark.slow
def test_torchrun_two_process_gloo(tiny: TinyCorpus, tmp_path: Path) -> None:
    torchrun = VENV_BIN / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun not installed beside this python")
    out = tmp_path / "ddp"
    args = [str(torchrun), "--nproc_per_node=2", "--standalone", "-m", "composer", "train", TINY,
            "--out", str(out), "--device", "cpu", "--max-steps", "4", "--quiet", "--threads", "1",
            "--embed-dim", "16", "--hidden-size", "32", "--seq-len", "32", "--batch-size", "4",
            "--save-every", "2", "--time-budget", "60"]  # a budget: the ranks agree on the elapsed time
    done = subprocess.run(args, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("done: 4 steps") == 1  # only rank 0 reports
    ck = load_checkpoint(out / "model.safetensors")
    assert ck.meta["world_size"] == 2
    _, meta = read_checkpoint(out / "last.safetensors")
    assert meta["world_size"] == 2 and meta["train_state"]["step"] == 4


# ---- the CLI -------------------------------------------------------------------------------------
def _invoke(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from composer.cli import app

    return CliRunner().invoke(app, args)


def test_cli_train_runs(tiny: TinyCorpus, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    r = _invoke(["train", TINY, "--out", str(out), "--device", "cpu", "--max-steps", "3", "--quiet",
                 "--threads", "1", "--embed-dim", "16", "--hidden-size", "32", "--seq-len", "32",
                 "--batch-size", "4"])
    assert r.exit_code == 0, r.output
    assert "done: 3 steps" in r.stdout
    assert json.loads((out / "train_config.json").read_text())["max_steps"] == 3


@pytest.mark.parametrize("args", [
    ["--schedule", "foo"],
    ["--lr", "-1"],
    ["--seq-len", "0"],
    ["--seq-len", "4"],
    ["--device", "tpu"],
    ["--dropout", "1.5"],
    ["--embed-dim", "0"],
    ["--threads", "-2"],
])
def test_cli_train_bad_options(tiny: TinyCorpus, tmp_path: Path, args: list[str]) -> None:
    r = _invoke(["train", TINY, "--out", str(tmp_path / "o"), "--quiet", "--max-steps", "1", *args])
    assert "internal error" not in one_line_error(r, args[0])  # (the option as typed, not the config's field)
    assert not (tmp_path / "o" / "model.safetensors").exists()


def test_cli_train_unbuilt_corpus(tmp_path: Path) -> None:
    r = _invoke(["train", "never-built", "--out", str(tmp_path / "o"), "--quiet"])
    one_line_error(r, "not built", "composer corpus build")
    with pytest.raises(CorpusError):
        load_corpus("never-built")


def test_cli_train_config_file(tiny: TinyCorpus, tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text("embed_dim = 16\nhidden_size = 32\nseq_len = 32\nbatch_size = 4\nthreads = 1\n"
                    "max_steps = 2\nlr = 0.5\n")
    out = tmp_path / "o"
    r = _invoke(["train", TINY, "--out", str(out), "--config", str(toml), "--lr", "0.01", "--quiet"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "train_config.json").read_text())
    assert cfg["hidden_size"] == 32 and cfg["lr"] == 0.01  # command line wins over the file
    toml.write_text("hidden_size = [")
    r = _invoke(["train", TINY, "--out", str(out), "--config", str(toml), "--quiet"])
    one_line_error(r, "cannot read config")
    toml.write_text("hiden_size = 3\n")
    r = _invoke(["train", TINY, "--out", str(out), "--config", str(toml), "--quiet"])
    one_line_error(r, "hiden_size")


def test_subprocess_env_has_the_session_cache(tiny: TinyCorpus) -> None:
    assert subprocess_env()["COMPOSER_CACHE_DIR"] == os.environ["COMPOSER_CACHE_DIR"]


def test_cli_train_help_states_train_config_defaults() -> None:
    """Options default to None (so a --config file can fill them); their help states TrainConfig's default."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    stated = {}
    for name, hint in typing.get_type_hints(train_cmd.train, include_extras=True).items():
        helps = [getattr(m, "help", None) or "" for m in getattr(hint, "__metadata__", ())]
        found = [m.group(1) for h in helps if (m := re.search(r"\[([^\[\]]+)\]\.$", h))]
        if found:
            stated[name] = found[0]
    assert len(stated) >= 14
    for name, text in stated.items():
        want = defaults[name]
        assert (text == want) if isinstance(want, str) else float(text) == want, (name, text, want)


def test_a_run_is_not_replaced_without_force(reference: dict[str, Any], tmp_path: Path) -> None:
    """Training again into a run's folder without --resume is refused (the run and its log are kept); --force
    starts it again; a weights-only file as last.safetensors is no run to resume (exit 2, not an internal error);
    and a run's last.safetensors loads as a model (generate / evaluate from it)."""
    import shutil

    from composer.errors import CheckpointError, OutputError

    out = tmp_path / "run"
    shutil.copytree(reference["out"], out)
    before = (out / "last.safetensors").read_bytes(), (out / "metrics.jsonl").read_text()
    with pytest.raises(OutputError, match="holds a run already .*--resume continues it, --force starts it again"):
        train(tiny_train_config(out, epochs=1))
    assert ((out / "last.safetensors").read_bytes(), (out / "metrics.jsonl").read_text()) == before
    assert train(tiny_train_config(out, epochs=1, max_steps=2), force=True)["steps"] == 2
    last = load_checkpoint(out / "last.safetensors")  # optimizer and RNG state beside the weights: read past
    assert last.config == load_checkpoint(out / "model.safetensors").config
    shutil.copy(out / "model.safetensors", out / "last.safetensors")
    with pytest.raises(CheckpointError, match="weights only, not a training run's state: nothing to resume"):
        train(tiny_train_config(out, epochs=1, max_steps=2), resume=True)
    assert CheckpointError.exit_code == 2


def test_cli_train_config_file_with_an_unknown_key(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("foo = 1\n")
    r = _invoke(["train", TINY, "--out", str(tmp_path / "o"), "--config", str(tmp_path / "c.toml"), "--quiet"])
    one_line_error(r, "unknown option 'foo'", "seq_len")
