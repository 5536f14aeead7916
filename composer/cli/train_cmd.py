"""CLI commands: ``composer train`` and ``composer evaluate``."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Annotated, Any

import tomllib
import typer

from composer.cli import options as opt
from composer.cli.common import console, err_console, fail, handle_errors, is_tty, working
from composer.cli.options import MaxNotes
from composer.errors import InputError


def train(
    corpus: Annotated[str, typer.Argument(help="Built corpus name or folder (see: composer corpus list).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for checkpoints.")],
    config_file: Annotated[
        Path | None, typer.Option("--config", help="TOML file with any of the options below.")
    ] = None,
    embed_dim: Annotated[int | None, typer.Option(help="Embedding width [256].")] = None,
    hidden_size: Annotated[int | None, typer.Option(help="LSTM width [256].")] = None,
    num_layers: Annotated[int | None, typer.Option(help="LSTM layers [2].")] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout in [0, 1) [0.2].")] = None,
    tie_weights: Annotated[
        bool | None,
        typer.Option("--tie-weights/--no-tie-weights",
                     help="Share input/output embeddings (default: when embed-dim = hidden-size)."),
    ] = None,
    seq_len: Annotated[
        int | None, typer.Option(help="Most tokens per training window; longer pieces are cut at bar lines [384].")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Windows per step [8].")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate [3e-3].")] = None,
    schedule: Annotated[str | None, typer.Option(help="cosine | plateau | constant [cosine].")] = None,
    warmup_steps: Annotated[int | None, typer.Option(help="Warm-up steps [0].")] = None,
    transpose: Annotated[
        bool | None,
        typer.Option("--transpose/--no-transpose", help="The recipe's transposition augmentation (default: on)."),
    ] = None,
    group_by_length: Annotated[
        bool | None,
        typer.Option("--group-by-length/--no-group-by-length",
                     help="Batch windows of like length together, less padding (default: on)."),
    ] = None,
    grad_clip: Annotated[float | None, typer.Option(help="Max gradient norm, 0 = off [1.0].")] = None,
    motion_input: Annotated[
        bool | None,
        typer.Option("--motion-input/--no-motion-input",
                     help="SATB grid corpora: the model also reads each voice's last melodic interval (default: off)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs [30].")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after N steps, 0 = off.")] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(help="Stop after this many minutes, 0 = off; the cosine schedule ends annealed at the budget."),
    ] = None,
    patience: Annotated[int | None, typer.Option(help="Early-stopping patience in epochs [5].")] = None,
    save_every: Annotated[int | None, typer.Option(help="Steps between resumable checkpoints [200].")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed [0].")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda | mps [auto].")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads, 0 = torch default.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a killed run from OUT/last.safetensors.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Start again in an OUT that holds a run (replaced).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout (no progress bar).")
    ] = False,
    cache_dir: opt.CacheDir = None,
) -> None:
    """Train the LSTM on a built corpus; keeps the best and the last checkpoint in OUT.

    Example: composer train bach-chorales-satb -o runs/satb --time-budget 30 --threads 1

    Several processes (one per GPU or CPU socket) train one model with DDP:
    torchrun --nproc_per_node 2 -m composer train bach-chorales-satb -o runs/ddp
    """
    from composer.train import TrainConfig
    from composer.train import train as run_train

    with handle_errors(cache_dir=cache_dir):
        base: dict[str, Any] = {}
        if config_file is not None:
            try:
                base = tomllib.loads(config_file.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise fail(f"{config_file}: cannot read config ({exc})") from None
        opts = dict(
            embed_dim=embed_dim, hidden_size=hidden_size, num_layers=num_layers, dropout=dropout,
            tie_weights=tie_weights, seq_len=seq_len, batch_size=batch_size, lr=lr, schedule=schedule,
            warmup_steps=warmup_steps, transpose=transpose, group_by_length=group_by_length,
            grad_clip=grad_clip, epochs=epochs, max_steps=max_steps,
            time_budget=time_budget * 60 if time_budget is not None else None, patience=patience,
            save_every=save_every, seed=seed, device=device, threads=threads, motion_input=motion_input,
        )
        base.update({k: v for k, v in opts.items() if v is not None})
        base.update(corpus=corpus, out=str(out))
        if time_budget is not None and not time_budget >= 0:
            raise InputError(f"--time-budget must be >= 0 minutes, got {time_budget}")
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        if unknown := sorted(set(base) - known):
            raise InputError(f"{config_file}: unknown option {unknown[0]!r} (options: {', '.join(sorted(known))})")
        try:
            cfg = TrainConfig(**base)
        except (TypeError, ValueError) as exc:  # an unknown or a bad option
            raise InputError(str(exc)) from None
        rank0 = int(os.environ.get("RANK", "0")) == 0
        try:
            result = _run_with_progress(run_train, cfg, resume, force, quiet or as_json or not rank0)
        except KeyboardInterrupt:
            saved = out / "last.safetensors"
            raise fail("interrupted" + (f": the same command with --resume continues from {saved}"
                                        if saved.exists() else ""), 130) from None
        if rank0 and as_json:
            best = result["best_val_loss"]
            typer.echo(json.dumps(dict(result, best_val_loss=best if math.isfinite(best) else None), indent=1,
                                  default=str))
        elif rank0:
            best = result.get("best_model")
            console.print(
                f"done: {result['steps']} steps, {result['epochs']} epochs, "
                f"best validation loss {result['best_val_loss']:.4f} nats/token, "
                f"{result['elapsed'] / 60:.1f} min; "
                + (f"best model: {best}" if best else "no model was validated, so none was written"),
                soft_wrap=True,  # a path is never cut
            )


def _run_with_progress(run_train: Any, cfg: Any, resume: bool, force: bool, quiet: bool) -> dict[str, Any]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    def warn(e: dict[str, Any]) -> None:
        if e["event"] == "warning":
            err_console.print(f"[yellow]warning:[/] {e['message']}", highlight=False, soft_wrap=True)

    if quiet or not is_tty():  # a progress bar only on a terminal (logs get metrics.jsonl)
        return dict(run_train(cfg, resume=resume, force=force, callback=warn))
    with Progress(
        TextColumn("[bold]train[/] {task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=False,
    ) as bar:
        task = bar.add_task("", total=None)

        def on_event(e: dict[str, Any]) -> None:
            warn(e)
            if e["event"] == "start":
                bar.update(task, total=e["total_steps"], completed=e["step"])
            elif e["event"] == "step":
                bar.update(task, completed=e["step"], description=(
                    f"epoch {e['epoch']} loss {e['loss']:.3f} {e['tokens_per_s']:,.0f} tok/s lr {e['lr']:.2e}"))
            elif e["event"] == "epoch":
                mark = "*" if e["improved"] else ""
                bar.console.print(f"epoch {e['epoch']}: validation loss {e['val_loss']:.4f}{mark}")

        return dict(run_train(cfg, resume=resume, force=force, callback=on_event))


def evaluate(
    checkpoint: Annotated[str, typer.Argument(help="Checkpoint file, folder or bundled name.")],
    data: Annotated[str, typer.Argument(help="Built corpus name/folder, or a folder of MIDI files.")],
    split: Annotated[str, typer.Option(help="Corpus split: train | valid | test.")] = "test",
    ngram: Annotated[int, typer.Option(help="Order of the n-gram baseline.")] = 4,
    baseline_corpus: Annotated[
        str | None, typer.Option(help="Corpus whose train split fits the baselines (default: the checkpoint's).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | mps.")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    max_notes: MaxNotes = None,
    cache_dir: opt.CacheDir = None,
) -> None:
    """NLL per token / note / quarter note and perplexity, against unigram and n-gram baselines.

    Example: composer evaluate runs/satb/best.safetensors bach-chorales-satb --split test --json
    """
    from rich.table import Table

    from composer.evaluate import evaluate as run_eval

    with handle_errors(max_notes, cache_dir=cache_dir):
        if split not in ("train", "valid", "test"):
            raise fail(f"--split must be train, valid or test, got {split!r}")
        if ngram < 1:
            raise fail(f"--ngram must be >= 1, got {ngram}")
        with working(f"evaluating {checkpoint} on {data}"):
            report = run_eval(checkpoint, data, split=split, order=ngram, baseline_corpus=baseline_corpus,
                              device=device)
        if as_json:
            typer.echo(json.dumps(report, indent=1))
            return
        table = Table(title=f"{report['checkpoint']} on {report['data']} ({report['pieces']} pieces, "
                      f"{report['tokens']:,} tokens, {report['notes']:,} notes, {report['beats']:,.0f} beats)")
        for col in ("model", "NLL/token", "perplexity", "NLL/note", "NLL/quarter"):
            table.add_column(col, justify="right" if col != "model" else "left")
        for row in report["models"]:
            table.add_row(row["model"], f"{row['nll_per_token']:.4f}", f"{row['perplexity']:.2f}",
                          f"{row['nll_per_note']:.3f}", f"{row['nll_per_quarter']:.3f}")
        console.print(table)
        console.print("NLL in nats. Baselines are fitted on the train split of "
                      f"{report['baseline_corpus']}; skipped files: {report['skipped']}")


def export(
    run: Annotated[Path, typer.Argument(help="Training output folder (its best model.safetensors).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Model folder to write (e.g. ~/.cache/composer/models/NAME).")
    ],
    name: Annotated[str | None, typer.Option(help="Model name (default: the folder name).")] = None,
    description: Annotated[str, typer.Option(help="One paragraph for the model card.")] = "",
    program: Annotated[int, typer.Option(help="Default General MIDI program of its output.")] = 0,
    tempo: Annotated[float | None, typer.Option(help="Default tempo in bpm.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing model.")] = False,
    cache_dir: opt.CacheDir = None,
) -> None:
    """Export a trained run as a model: weights only, test metrics and a model card (card.md, card.json).

    Example: composer export runs/satb -o ~/.cache/composer/models/mine (then: composer generate -m mine)
    """
    from composer.bundle import export_model

    with handle_errors(cache_dir=cache_dir):
        if not 0 <= program <= 127:
            raise fail(f"--program must be in 0..127, got {program}")
        with working(f"measuring {run} on the test split for its model card"):
            card = export_model(run, out, name=name, description=description, default_program=program,
                                default_tempo=tempo, force=force)
        lstm = card["test"]["models"][0]
        console.print(f"exported {card['name']} to {out}: test NLL {lstm['nll_per_token']:.4f} nats/token, "
                      f"{lstm['nll_per_quarter']:.3f} nats/quarter; card: {out / 'card.md'}")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate`` and ``export`` to ``app``."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("export")(export)
