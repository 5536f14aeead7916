"""CLI command: ``composer analyze FILE... [--json] [--roman OUT] [--plot OUT] [--force]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from composer.cli.common import console, err_console, fail, handle_errors
from composer.cli.options import MaxNotes
from composer.harmony import MAX_ANALYSIS_BEATS, WINDOW_BARS, Analysis, analysis_score, analyze_files

MAX_FAULTS_SHOWN = 12


def _show(a: Analysis) -> None:
    from rich.table import Table

    t = Table(title=f"[bold]{a.source}[/]", show_header=False, title_justify="left")
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column(overflow="fold")
    k = a.key
    alts = ", ".join(f"{n} ({r:.2f})" for n, r in k.alternates)
    t.add_row(
        "key", f"{k.name}  (r = {k.correlation:.3f}, certainty {k.certainty:.2f}; next: {alts})"
    )
    t.add_row("length", f"{a.bars} bars of {a.time_signature}, {a.duration_beats:g} beats")
    t.add_row(
        "local keys",
        "; ".join(
            f"bars {r.start_bar}-{r.end_bar}: {r.key} ({r.correlation:.2f})" for r in a.local_keys
        ),
    )
    t.add_row("progression", a.progression)
    cads = "; ".join(
        f"bar {c.bar} beat {c.beat:g}: {c.kind}{f' ({c.subtype})' if c.subtype else ''} "
        f"{c.progression} in {c.key} [{c.phrase_end}]"
        for c in a.cadences
    )
    t.add_row("cadences", cads or "none found")
    v = a.voices
    t.add_row(
        "voices",
        f"{v.count} ({' '.join(v.names)}) from {v.mode}"
        + (f", {v.dropped_notes} notes left out" if v.dropped_notes else ""),
    )
    counts = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in a.fault_counts.items())
    t.add_row(
        "voice leading",
        f"{len(a.faults)} faults, {a.faults_per_100_beats:.1f} per 100 beats ({counts})",
    )
    for f in a.faults[:MAX_FAULTS_SHOWN]:
        t.add_row(
            "",
            f"bar {f.bar} beat {f.beat:g}: {f.kind.replace('_', ' ')} "
            f"{'-'.join(f.voices)}: {f.detail}",
        )
    if len(a.faults) > MAX_FAULTS_SHOWN:
        t.add_row("", f"... and {len(a.faults) - MAX_FAULTS_SHOWN} more (see --json)")
    fig = a.figures
    pr = fig["pitch_range"]
    t.add_row("range", f"{pr['lowest_name']}-{pr['highest_name']} ({pr['semitones']} semitones)")
    t.add_row("density", f"{fig['note_density']:.2f} notes per beat ({fig['notes']} notes)")
    hist = "  ".join(f"{n} {v * 100:.0f}" for n, v in fig["pitch_class_histogram"].items())
    t.add_row("pitch classes %", hist)
    t.add_row("non-diatonic", f"{fig['non_diatonic_share'] * 100:.1f}% of notes")
    t.add_row("consonance", f"{fig['consonance_share'] * 100:.1f}% of the time")
    t.add_row("quality score", f"{analysis_score(a):.3f}")
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""

    @app.command()
    def analyze(
        files: Annotated[list[Path], typer.Argument(help="MIDI, MusicXML, ABC or kern files.")],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print JSON (schema in docs/analysis.md) instead of tables.")
        ] = False,
        roman: Annotated[
            Path | None, typer.Option("--roman", help="Write a MusicXML score with the Roman numerals as lyrics.")
        ] = None,
        plot: Annotated[
            Path | None, typer.Option("--plot", help="Write a PNG piano roll with chord labels and key regions.")
        ] = None,
        window: Annotated[
            int, typer.Option("--window", help="Bars of key evidence per beat (0: the beat alone).")
        ] = WINDOW_BARS,
        force: Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")] = False,
        max_notes: MaxNotes = None,
        max_beats: Annotated[
            int,
            typer.Option("--max-beats", min=1, help="Refuse pieces longer than this many beats."),
        ] = MAX_ANALYSIS_BEATS,
    ) -> None:
        """Analyze harmony: key, local keys, Roman numerals, cadences, voice leading, figures.

        With several files, --roman/--plot OUT.ext write OUT-<file stem>.ext for each.

        Example: composer analyze out/chorales-001.mid --roman chorale.musicxml --plot chorale.png
        """
        with handle_errors(max_notes):
            if window < 0:
                raise fail(f"--window must be >= 0, got {window}")
            if roman is not None and roman.suffix.lower() not in (".musicxml", ".xml", ".mxl"):
                raise fail(f"--roman must end in .musicxml or .xml, got {roman}")
            if roman is not None and roman.suffix.lower() == ".mxl":
                raise fail("--roman writes uncompressed MusicXML: use .musicxml or .xml")
            skipped: list[tuple[Path, str]] = []  # several files: a bad one is said at the end, the others shown
            analyses = analyze_files(files, window_bars=window, max_beats=max_beats, roman=roman, plot=plot,
                                     force=force, skipped=skipped if len(files) > 1 else None)
            if as_json:
                docs = [a.to_dict() for a in analyses]
                typer.echo(json.dumps(docs if len(files) > 1 else docs[0], indent=2))
            else:
                for a in analyses:
                    _show(a)
            for path, why in skipped:
                err_console.print(f"[bold red]error:[/] {why}" if str(path) in why else f"[bold red]error:[/] {path}: "
                                  f"{why}", highlight=False, soft_wrap=True)
            if skipped:
                raise typer.Exit(2)
