"""CLI commands: ``composer generate``, ``composer continue``, ``composer models``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from composer.cli import options as opt
from composer.cli.common import console, err_console, fail, handle_errors, working
from composer.config import SampleOptions

if TYPE_CHECKING:
    from composer.generation import GeneratedPiece, Request

Tempo = Annotated[float | None, typer.Option(help="Tempo in bpm.")]
PitchMin = Annotated[int, typer.Option(help="Lowest MIDI pitch.")]
PitchMax = Annotated[int, typer.Option(help="Highest MIDI pitch.")]
MaxPoly = Annotated[int, typer.Option("--max-polyphony", help="Most notes sounding at once (0 = off).")]
BestOf = Annotated[
    int | None,
    typer.Option("--best-of", help="Sample K candidates per piece, keep the best analysis [4 for four-voice models, "
                 "else 1]."),
]
Fp32 = Annotated[bool, typer.Option("--fp32", help="Sample with the fp32 model instead of int8.")]


def _best_of(best_of: int | None, model: str | None) -> int:
    """``--best-of``, or the model's default (see :func:`composer.generation.default_best_of`), checked."""
    from composer.generation import best_of_for

    try:
        return best_of_for(best_of, model, "--best-of")
    except ValueError as exc:
        raise fail(str(exc)) from None


def _request(model: str | None, **fields: Any) -> Request:
    """The :class:`composer.generation.Request` of a command: the model as named, then its fields."""
    from composer.generation import Request

    return Request(None if model is None else str(model), **fields)


def _piece_doc(path: Path, p: GeneratedPiece, scores: list[float] | None = None) -> dict[str, Any]:
    """One written piece for ``--json``: the table's columns, the full path and the candidates' scores."""
    return {"path": str(path.resolve()), "bars": p.bars, "notes": len(p.notes), "seconds": round(_seconds(p), 3),
            "time_signature": f"{p.time_signature[0]}/{p.time_signature[1]}", "tempo": p.tempo, "key": p.key or None,
            "key_found": p.found_key, "seed": p.seed, "tracks": 4 if p.voices is not None else 1,
            "candidate_scores": scores}


def _seconds(p: GeneratedPiece) -> float:
    return p.bars * p.time_signature[0] * 4 / p.time_signature[1] * 60 / p.tempo


def _summary(pieces: list[tuple[Path, GeneratedPiece]], sel: Any = None, as_json: bool = False,
             asked_key: str | None = None, analyses: bool = False) -> None:
    """The written pieces as a table (or ``--json``); ``sel``: their :class:`~composer.generation.Selection`."""
    scores: dict[int, list[float]] = sel.scores if sel is not None else {}
    chosen: dict[int, int] = sel.chosen if sel is not None else {}
    heard = {i: a.key.name for i, (a, _) in (sel.analyses if sel is not None else {}).items()}
    if as_json:
        docs = [dict(_piece_doc(path, p, scores.get(i)), chosen=chosen.get(i), key_heard=heard.get(i, p.found_key))
                for i, (path, p) in enumerate(pieces)]
        if analyses and sel is not None:  # --analyze: each piece's analysis (the schema of analyze --json)
            for i, doc in enumerate(docs):
                if i in sel.analyses:
                    doc["analysis"] = sel.analyses[i][0].to_dict()
        typer.echo(json.dumps(docs, indent=1))
        return
    from rich.table import Table

    # the key heard: the harmony analysis's, where the choice among candidates read one (it is what --analyze
    # prints), else a Krumhansl-Schmuckler reading of the notes
    table = Table("bars", "notes", "seconds", "key", "key heard")
    table.add_column("seed", overflow="fold")  # folded rather than cut: seeds and paths are copied from here
    table.add_column("file", overflow="fold")
    with_scores = any(len(v) > 1 for v in scores.values())
    if with_scores:
        table.add_column("score")  # the kept candidate's, of how many
    for i, (path, p) in enumerate(pieces):
        key = f"{p.key} ({'asked' if asked_key else 'chosen'})" if p.key else "-"
        row = [str(p.bars), str(len(p.notes)), f"{_seconds(p):.1f}", key, heard.get(i, p.found_key), str(p.seed),
               str(path)]
        if with_scores:
            got, kept = scores.get(i, []), chosen.get(i)
            row.append(f"{got[kept]:.3f} (of {len(got)})" if got and kept is not None and kept < len(got) else "-")
        table.add_row(*row)
    console.print(table)
    paths = [Path(path) for path, _ in pieces]
    folders = {p.parent for p in paths}
    said = ", ".join(map(str, paths)) if len(paths) <= 4 or len(folders) > 1 else (  # (each is in the table)
        f"{len(paths)} files in {paths[0].parent}: {paths[0].name} to {paths[-1].name}")
    console.print(f"wrote {said}", highlight=False, soft_wrap=True)


def _print_analysis(path: Path, a: Any, score: float) -> None:
    cad = ", ".join(f"{c.kind} bar {c.bar}" for c in a.cadences) or "none"
    prog = a.progression if len(a.progression) < 160 else a.progression[:157] + "..."
    console.print(
        f"[bold]{path.name}[/]: key {a.key.name} (r={a.key.correlation:.2f}); cadences: {cad}; "
        f"voice-leading faults {len(a.faults)} ({a.faults_per_100_beats:.1f}/100 beats); score {score:.3f}\n"
        f"  {prog}"
    )


@opt.with_groups(options=opt.sampling)
def generate(
    model: opt.Model = None,
    num: Annotated[int, typer.Option("--num", "-n", help="Pieces to write.")] = 1,
    bars: Annotated[int | None, typer.Option(help="Length in bars [16].")] = None,
    seconds: Annotated[float | None, typer.Option(help="Length in seconds (whole bars).")] = None,
    options: SampleOptions = SampleOptions(),
    tempo: Tempo = None,
    program: opt.Program = None,
    pitch_min: PitchMin = 0,
    pitch_max: PitchMax = 127,
    max_polyphony: MaxPoly = 0,
    out_dir: Annotated[
        Path,
        typer.Option("--out", "--out-dir", "-o", help="Folder for the MIDI files, or a .mid file for one piece."),
    ] = Path("out"),
    analyze: Annotated[bool, typer.Option("--analyze", help="Print a harmonic analysis of each piece.")] = False,
    best_of: BestOf = None,
    fp32: Fp32 = False,
    as_json: opt.Json = False,
    again: Annotated[
        Path | None,
        typer.Option("--again", help="Write the piece a record describes again, byte for byte: its .json sidecar "
                     "or the .mid file itself (every other option comes from the record; -o is the folder or file)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="With --again: overwrite the output file.")] = False,
    musicxml: opt.MusicXml = False,
    wav: opt.Wav = False,
    flac: opt.Flac = False,
    humanize: opt.Humanize = False,
    cache_dir: opt.CacheDir = None,
) -> None:
    """Generate N MIDI files from a trained model (default: the bundled chorale model).

    Every file gets a generation record (in the file, and NAME.json beside it) that --again replays.

    Example: composer generate -n 4 --bars 16 --key "D minor" -o out/
    """
    from composer.generation import bars_for, load_model, regenerate, write_best
    from composer.voicegrid import VoiceGridCodec

    with handle_errors(cache_dir=cache_dir):
        if again is not None:
            with working(f"sampling the batch {again.name} came from again"):
                path, piece = regenerate(again, out_dir, force=force, musicxml=musicxml, audio=opt.audio(wav, flac))
            _summary([(path, piece)], as_json=as_json)
            return
        if bars is not None and seconds is not None:
            raise fail("give --bars or --seconds, not both")
        if num < 1:
            raise fail(f"--num must be >= 1, got {num}")
        best_of = _best_of(best_of, model)
        if seconds is not None and not 0 < seconds <= 3600:
            raise fail(f"--seconds must be in (0, 3600], got {seconds}")
        ckpt = load_model(model)
        if isinstance(ckpt.codec, VoiceGridCodec) and (pitch_min, pitch_max, max_polyphony) != (0, 127, 0):
            raise fail("--pitch-min, --pitch-max and --max-polyphony shape one-stream models; a four-voice model "
                       "keeps each voice in its own range, four at once")
        opts = opt.constrained(options, pitch_min=pitch_min, pitch_max=pitch_max, max_polyphony=max_polyphony)
        # whole bars at the tempo the pieces are written at (the model's own unless --tempo)
        bpm = tempo or float(ckpt.meta.get("default_tempo", 100.0))
        n_bars = bars if bars is not None else bars_for(seconds, bpm, (4, 4)) if seconds else 16
        with working(f"sampling {num * best_of} candidate(s) of {n_bars} bars"):
            request = _request(model, n=num, best_of=best_of, bars=n_bars, options=opts, tempo=tempo,
                               program=program, quantize=not fp32, humanize=humanize)
            sel = write_best(out_dir, request, analyze=analyze, musicxml=musicxml, audio=opt.audio(wav, flac))
        _summary(list(zip(sel.paths, sel.pieces, strict=True)), sel, as_json, opts.key, analyze)
        if analyze and not as_json:
            for i, path in enumerate(sel.paths):
                _print_analysis(path, *sel.analyses[i])


@opt.with_groups(options=opt.sampling)
def continue_(
    primer: Annotated[str, typer.Argument(help='MIDI file, "tinyNotation: 4/4 c4 d e f" or "C4:1 D4:0.5 E4".')],
    model: opt.Model = None,
    bars: Annotated[int, typer.Option(help="New bars after the primer.")] = 8,
    voices: Annotated[
        bool, typer.Option("--voices", help="Harmonize beneath the primer melody instead of appending.")
    ] = False,
    options: SampleOptions = SampleOptions(),
    tempo: Tempo = None,
    program: opt.Program = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .mid file, or a folder.")] = Path("out"),
    force: opt.Force = False,
    best_of: BestOf = None,
    fp32: Fp32 = False,
    max_notes: opt.MaxNotes = None,
    as_json: opt.Json = False,
    musicxml: opt.MusicXml = False,
    wav: opt.Wav = False,
    flac: opt.Flac = False,
    humanize: opt.Humanize = False,
    cache_dir: opt.CacheDir = None,
) -> None:
    """Continue a melody: the output starts with the primer unchanged, then the model's bars.

    Example: composer continue "tinyNotation: 4/4 g4 g a b c'2 b" --voices -o hymn.mid
    """
    from composer.generation import Selection, output_path, parse_primer, write_continuation

    with handle_errors(max_notes, cache_dir):
        best_of = _best_of(best_of, model)
        if not 1 <= bars <= 512:
            raise fail(f"--bars must be in 1..512, got {bars}")
        opts = options  # built and checked by the option group
        p = parse_primer(primer)
        path = output_path(out, "continuation" if not voices else "harmonized", force)  # before sampling
        with working(f"{'harmonizing' if voices else 'continuing'} the primer ({best_of} candidate(s))"):
            request = _request(model, best_of=best_of, bars=bars, options=opts, tempo=tempo, program=program,
                               quantize=not fp32, voices=voices, humanize=humanize)
            sel = Selection([])
            piece = write_continuation(p, primer, path, request, force=force, musicxml=musicxml,
                                       audio=opt.audio(wav, flac), chosen=sel)
        if as_json:
            summary = piece.primer_summary(p, opts.held_melody)
            heard = sel.analyses[0][0].key.name if 0 in sel.analyses else piece.found_key
            typer.echo(json.dumps(dict(_piece_doc(path, piece, sel.scores.get(0)), chosen=sel.chosen.get(0),
                                       key_heard=heard, primer=summary), indent=1))
            return
        _summary([(path, piece)], sel, asked_key=opts.key)
        err_console.print(piece.primer_summary(p, opts.held_melody), highlight=False, soft_wrap=True)


def models(as_json: opt.Json = False, cache_dir: opt.CacheDir = None) -> None:
    """List the bundled and user models with their model cards.

    Example: composer models --json
    """
    from rich.table import Table

    from composer.checkpoint import list_models

    with handle_errors(cache_dir=cache_dir):
        if as_json:
            typer.echo(json.dumps(list_models(), indent=1, default=str))
            return
        table = Table("name", "origin", "corpus", "params", "MiB", "NLL/token", "NLL/quarter")  # (test split)
        table.columns[0].no_wrap = True  # (the name is what -m takes: never cut)
        found = list_models()
        for m in found:
            if "error" in m:
                table.add_row(m["name"], m["origin"], "[red]unreadable[/]", "", "", "", "")
                continue
            met = m.get("metrics") or {}
            table.add_row(
                m["name"], m["origin"], str(m.get("corpus", "")), f"{m.get('params') or 0:,}", str(m.get("size_mb")),
                f"{met['nll_per_token']:.3f}" if "nll_per_token" in met else "-",
                f"{met['nll_per_quarter']:.3f}" if "nll_per_quarter" in met else "-",
            )
        console.print(table)
        for m in found:  # the long things under the table, one line each (paths are copied from here)
            said = m["error"] if "error" in m else m.get("shadowed") or (f"card {m['card']}" if m.get("card") else "")
            console.print(f"{m['name']} ({m['origin']}): {m['path']}" + (f"; {said}" if said else ""),
                          highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``generate``, ``continue`` and ``models`` to ``app``."""
    app.command("generate")(generate)
    app.command("continue")(continue_)
    app.command("models")(models)
