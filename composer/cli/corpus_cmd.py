"""CLI commands: ``composer corpus build | list | stats``."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from composer.cli.common import console, err_console, fail, handle_errors, is_tty
from composer.cli.options import CacheDir, Json, MaxNotes
from composer.midifile import MAX_NOTES
from composer.recipes import dir_recipe, list_recipes, load_recipe

corpus_app = typer.Typer(help="Build and inspect training corpora.", no_args_is_help=True)



@corpus_app.command("build")
def build(
    name: Annotated[
        str | None, typer.Argument(help="Bundled recipe name or a recipe .toml file.")
    ] = None,
    from_dir: Annotated[
        Path | None, typer.Option("--from-dir", help="Build from a folder of MIDI files (recursive).")
    ] = None,
    corpus_name: Annotated[
        str | None, typer.Option("--name", help="Corpus name for --from-dir (default: folder name).")
    ] = None,
    tokenizer: Annotated[
        str, typer.Option("--tokenizer", help="REMI, TSD or MIDILike (with --from-dir).")
    ] = "REMI",
    valid: Annotated[
        float | None,
        typer.Option("--valid", help="Share of pieces for validation, 0-0.5 (with --from-dir; default 0.1)."),
    ] = None,
    test: Annotated[
        float | None,
        typer.Option("--test", help="Share of pieces for testing, 0-0.5 (with --from-dir; default 0.1)."),
    ] = None,
    cache_dir: CacheDir = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes (default: all cores).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N pieces.")] = None,
    max_notes: MaxNotes = None,
) -> None:
    """Convert a corpus to MIDI and tokens (parallel, resumable) and write its manifest.

    Example: composer corpus build bach-chorales-satb

    Example: composer corpus build --from-dir ~/midi --name mine (your own MIDI files)

    A corpus of 3 or more pieces gets at least one validation and one test piece.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from composer.corpus import build_corpus

    with handle_errors(cache_dir=cache_dir):
        if (name is None) == (from_dir is None):
            raise fail("give a recipe NAME or --from-dir PATH (one of them)")
        if jobs is not None and jobs < 1:
            raise fail(f"--jobs must be >= 1, got {jobs}")
        if limit is not None and limit < 1:
            raise fail(f"--limit must be >= 1, got {limit}")
        if tokenizer not in ("REMI", "TSD", "MIDILike"):
            raise fail(f"--tokenizer must be REMI, TSD or MIDILike, got {tokenizer!r}")
        if tokenizer != "REMI":  # (said before the build, not after a training run)
            err_console.print(f"note: a {tokenizer} corpus trains and evaluates; generate, continue, play and jam "
                              "sample REMI (and four-voice) models only", highlight=False, soft_wrap=True)
        if from_dir is None and (valid is not None or test is not None):
            raise fail("--valid and --test go with --from-dir (a recipe sets them in its [split])")
        recipe = (
            dir_recipe(from_dir, corpus_name, tokenizer,
                       valid=0.1 if valid is None else valid, test=0.1 if test is None else test)
            if from_dir else load_recipe(str(name))
        )
        start = time.monotonic()
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
            disable=not is_tty(),  # off a terminal it only adds a blank line
        ) as bar:
            task = bar.add_task(f"building {recipe.name}", total=None)
            manifest = build_corpus(
                recipe,
                jobs=jobs,
                limit=limit,
                progress=lambda d, n: bar.update(task, completed=d, total=n),
                max_notes=max_notes or MAX_NOTES,
            )
        t = manifest["totals"]
        console.print(
            f"[bold]{recipe.name}[/]: {t['pieces']} pieces, {t['tokens']:,} tokens, "
            f"{t['notes']:,} notes; skipped {t['skipped']}; splits {manifest['splits']}; "
            f"{time.monotonic() - start:.1f} s"
        )
        if manifest["skipped"]:
            reasons = ", ".join(f"{k}: {v}" for k, v in manifest["skip_reasons"].items())
            first = "; ".join(f"{s['id']}: {s['reason']}" for s in manifest["skipped"][:3])
            extra = len(manifest["skipped"]) - 3
            where = f" --cache-dir {shlex.quote(str(cache_dir))}" if cache_dir else ""
            more = f"; and {extra} more (see composer corpus stats {recipe.name}{where})" if extra > 0 else ""
            err_console.print(f"[yellow]warning:[/] skipped {t['skipped']} file(s) ({reasons}): {first}{more}",
                              highlight=False, soft_wrap=True)


@corpus_app.command("list")
def list_(cache_dir: CacheDir = None, as_json: Json = False) -> None:
    """List bundled recipes and the corpora built in the cache.

    Example: composer corpus list --json
    """
    from rich.table import Table

    from composer.corpus import built_corpora, load_corpus

    with handle_errors(cache_dir=cache_dir):
        built = set(built_corpora())
        docs: list[dict[str, Any]] = []
        for name in sorted(set(list_recipes()) | built):
            recipe = load_recipe(name) if name in list_recipes() else None
            m = load_corpus(name).manifest if name in built else None
            docs.append({"corpus": name, "bundled": recipe is not None, "built": m is not None,
                         "pieces": m["totals"]["pieces"] if m else None, "tokens": m["totals"]["tokens"] if m else None,
                         "description": recipe.description if recipe else ""})
        if as_json:
            typer.echo(json.dumps(docs, indent=1))
            return
        table = Table("corpus", "recipe", "built", "pieces", "tokens", "description")
        for d in docs:
            table.add_row(d["corpus"], "bundled" if d["bundled"] else "-", "yes" if d["built"] else "no",
                          "" if d["pieces"] is None else str(d["pieces"]),
                          "" if d["tokens"] is None else f"{d['tokens']:,}", d["description"])
        console.print(table)


@corpus_app.command("stats")
def stats(
    name: Annotated[str, typer.Argument(help="Built corpus name or folder.")],
    cache_dir: CacheDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Pieces, tokens, notes, duration, pitch range, keys and a length histogram.

    Example: composer corpus stats bach-chorales-satb --json
    """
    from rich.table import Table

    from composer.corpus import corpus_stats, load_corpus

    with handle_errors(cache_dir=cache_dir):
        s = corpus_stats(load_corpus(name))
        if as_json:
            typer.echo(json.dumps(s, indent=1))
            return
        table = Table(title=f"corpus {s['name']}", show_header=False)
        for label, value in (
            ("pieces", f"{s['pieces']} (train {s['splits']['train']}, valid {s['splits']['valid']}, "
             f"test {s['splits']['test']})"),
            ("skipped", f"{s['skipped']} {s['skip_reasons'] or ''}"),
            ("tokens", f"{s['tokens']:,} (vocabulary {s['vocab_size']})"),
            ("notes", f"{s['notes']:,}"),
            ("duration", f"{s['beats']:,.0f} beats, {s['minutes']:,.1f} minutes at the pieces' tempos"),
            ("pitch range", f"{s['pitch_min']}..{s['pitch_max']}"),
            ("time signatures", ", ".join(f"{k} {v}" for k, v in list(s["time_signatures"].items())[:8])),
            ("tokenizer hash", s["tokenizer_hash"]),
        ):
            table.add_row(label, value)
        console.print(table)
        keys = Table("key", "pieces", title="key distribution")
        for k, v in s["keys"].items():
            keys.add_row(k, str(v))
        console.print(keys)
        hist = Table("tokens per piece", "pieces", "", title="length histogram")
        top = max(s["length_histogram"].values()) or 1
        for k, v in s["length_histogram"].items():
            hist.add_row(k, str(v), "#" * round(30 * v / top))
        console.print(hist)
        if s["skipped_files"]:
            skipped = Table(title="skipped files")
            skipped.add_column("skipped file", overflow="fold")
            skipped.add_column("reason")
            for f in s["skipped_files"]:
                skipped.add_row(f["source"] or f["id"], f["reason"])
            console.print(skipped)


def register(app: typer.Typer) -> None:
    """Add the ``corpus`` command group to ``app``."""
    app.add_typer(corpus_app, name="corpus")
