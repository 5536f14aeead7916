"""CLI commands: ``composer generate``, ``composer continue``, ``composer models``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from composer.cli.common import console, err_console, fail, handle_errors
from composer.cli.options import (
    FILE_TOP_P,
    Force,
    Key,
    KeyBias,
    MaxNotes,
    Model,
    Program,
    Seed,
    Temperature,
    TopK,
    TopP,
    sample_options,
)
from composer.config import DEFAULT_KEY_BIAS, DEFAULT_TEMPERATURE

if TYPE_CHECKING:
    from composer.generation import GeneratedPiece

Tempo = Annotated[float | None, typer.Option(help="Tempo in bpm.")]
PitchMin = Annotated[int, typer.Option(help="Lowest MIDI pitch.")]
PitchMax = Annotated[int, typer.Option(help="Highest MIDI pitch.")]
MaxPoly = Annotated[int, typer.Option("--max-polyphony", help="Most notes sounding at once (0 = off).")]
Fp32 = Annotated[bool, typer.Option("--fp32", help="Sample with the fp32 model instead of int8.")]


def _next_paths(out_dir: Path, stem: str, count: int) -> list[Path]:
    """``count`` new file names ``STEM-NNN.mid`` after the highest already in ``out_dir``."""
    pattern = re.compile(rf"^{re.escape(stem)}-(\d+)\.mid$")
    taken = [int(m.group(1)) for p in out_dir.glob(f"{stem}-*.mid") if (m := pattern.match(p.name))]
    start = max(taken, default=0) + 1
    return [out_dir / f"{stem}-{start + i:03d}.mid" for i in range(count)]


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise fail(f"output folder {out_dir} is a file")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"cannot create output folder {out_dir}: {exc.strerror}") from None
    probe = out_dir / ".composer-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise fail(f"output folder {out_dir} is not writable: {exc.strerror}") from None


def _summary(pieces: list[tuple[Path, GeneratedPiece]], scores: dict[int, list[float]] | None = None) -> None:
    from rich.table import Table

    table = Table("file", "bars", "notes", "seconds", "key asked/chosen", "key found", "seed")
    if scores:
        table.add_column("analysis score")
    for i, (path, p) in enumerate(pieces):
        secs = p.bars * p.time_signature[0] * 4 / p.time_signature[1] * 60 / p.tempo
        row = [path.name, str(p.bars), str(len(p.notes)), f"{secs:.1f}", p.key or "-", p.found_key, str(p.seed)]
        if scores:
            row.append(", ".join(f"{s:.3f}" for s in scores.get(i, [])))
        table.add_row(*row)
    console.print(table)
    folders = sorted({str(path.parent) for path, _ in pieces})
    console.print(f"wrote {len(pieces)} file(s) to {', '.join(folders)}")


def _analysis_line(piece: GeneratedPiece) -> tuple[Any, float]:
    from composer.harmony import analysis_score, analyze_notes

    a = analyze_notes(piece.notes, time_signature=piece.time_signature, name=piece.meta.get("model", ""))
    return a, analysis_score(a)


def _print_analysis(path: Path, a: Any, score: float) -> None:
    cad = ", ".join(f"{c.kind} bar {c.bar}" for c in a.cadences) or "none"
    prog = a.progression if len(a.progression) < 160 else a.progression[:157] + "..."
    console.print(
        f"[bold]{path.name}[/]: key {a.key.name} (r={a.key.correlation:.2f}); cadences: {cad}; "
        f"voice-leading faults {len(a.faults)} ({a.faults_per_100_beats:.1f}/100 beats); score {score:.3f}\n"
        f"  {prog}"
    )


def generate(
    model: Model = None,
    num: Annotated[int, typer.Option("--num", "-n", help="Pieces to write.")] = 1,
    bars: Annotated[int | None, typer.Option(help="Length in bars [16].")] = None,
    seconds: Annotated[float | None, typer.Option(help="Length in seconds (whole bars).")] = None,
    temperature: Temperature = DEFAULT_TEMPERATURE,
    top_k: TopK = 0,
    top_p: TopP = FILE_TOP_P,
    seed: Seed = None,
    key: Key = None,
    key_bias: KeyBias = DEFAULT_KEY_BIAS,
    tempo: Tempo = None,
    program: Program = None,
    pitch_min: PitchMin = 0,
    pitch_max: PitchMax = 127,
    max_polyphony: MaxPoly = 0,
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Folder for the MIDI files.")] = Path("out"),
    analyze: Annotated[bool, typer.Option("--analyze", help="Print a harmonic analysis of each piece.")] = False,
    best_of: Annotated[
        int, typer.Option("--best-of", help="Sample K candidates per piece, keep the best analysis.")
    ] = 1,
    fp32: Fp32 = False,
) -> None:
    """Generate N MIDI files from a trained model (default: the bundled chorale model)."""
    from composer.generation import bars_for, sample_pieces

    with handle_errors():
        if bars is not None and seconds is not None:
            raise fail("give --bars or --seconds, not both")
        if num < 1 or best_of < 1:
            raise fail("--num and --best-of must be >= 1")
        if seconds is not None and not 0 < seconds <= 3600:
            raise fail(f"--seconds must be in (0, 3600], got {seconds}")
        opts = sample_options(temperature, top_k, top_p, seed, key, key_bias, pitch_min=pitch_min,
                              pitch_max=pitch_max, max_polyphony=max_polyphony)
        _check_out_dir(out_dir)
        n_bars = bars if bars is not None else bars_for(seconds, tempo or 100.0, (4, 4)) if seconds else 16
        cands = sample_pieces(model, n=num * best_of, bars=n_bars, options=opts, tempo=tempo,
                              program=program, quantize=not fp32)
        chosen, scores, analyses = [], {}, {}
        for i in range(num):
            group = cands[i * best_of : (i + 1) * best_of]
            if best_of > 1 or analyze:
                results = [_analysis_line(p) for p in group]
                best = max(range(len(group)), key=lambda j: results[j][1])
                scores[i] = [r[1] for r in results]
                analyses[i] = results[best]
                chosen.append(group[best])
            else:
                chosen.append(group[0])
        stem = chosen[0].meta.get("model", "piece")
        paths = _next_paths(out_dir, stem, num)
        written = [(p.parent, piece.write(p)) for p, piece in zip(paths, chosen, strict=True)]
        _summary([(path, piece) for (_, path), piece in zip(written, chosen, strict=True)],
                 scores if best_of > 1 else None)
        if analyze:
            for (_, path), i in zip(written, range(num), strict=True):
                _print_analysis(path, *analyses[i])


def continue_(
    primer: Annotated[str, typer.Argument(help='MIDI file, "tinyNotation: 4/4 c4 d e f" or "C4:1 D4:0.5 E4".')],
    model: Model = None,
    bars: Annotated[int, typer.Option(help="New bars after the primer.")] = 8,
    voices: Annotated[
        bool, typer.Option("--voices", help="Harmonize beneath the primer melody instead of appending.")
    ] = False,
    temperature: Temperature = DEFAULT_TEMPERATURE,
    top_k: TopK = 0,
    top_p: TopP = FILE_TOP_P,
    seed: Seed = None,
    key: Key = None,
    key_bias: KeyBias = DEFAULT_KEY_BIAS,
    tempo: Tempo = None,
    program: Program = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .mid file, or a folder.")] = Path("out"),
    force: Force = False,
    fp32: Fp32 = False,
    max_notes: MaxNotes = None,
) -> None:
    """Continue a melody: the output starts with the primer unchanged, then the model's bars."""
    from composer.files import refuse_overwrite
    from composer.generation import harmonize, sample_pieces
    from composer.primer import parse_primer

    with handle_errors(max_notes):
        if not 1 <= bars <= 512:
            raise fail(f"--bars must be in 1..512, got {bars}")
        opts = sample_options(temperature, top_k, top_p, seed, key, key_bias)
        p = parse_primer(primer)
        if out.suffix.lower() in (".mid", ".midi"):
            path = out
            refuse_overwrite(path, force)  # say so before sampling, not after
        else:
            _check_out_dir(out)
            path = _next_paths(out, "continuation" if not voices else "harmonized", 1)[0]
        if voices:
            piece = harmonize(p, model, options=opts, tempo=tempo, program=program, quantize=not fp32)
        else:
            piece = sample_pieces(model, n=1, bars=p.bars + bars, options=opts, tempo=tempo, program=program,
                                  primer=p, quantize=not fp32)[0]
        piece.write(path, force=force)
        _summary([(path, piece)])
        err_console.print(f"primer: {p.bars} bar(s), {len(p.notes)} notes, kept unchanged at the start")


def models() -> None:
    """List the bundled and user models with their model cards."""
    from rich.table import Table

    from composer.checkpoint import list_models

    with handle_errors():
        table = Table("name", "origin", "corpus", "parameters", "size MB", "test NLL/token", "NLL/quarter", "card")
        for m in list_models():
            if "error" in m:
                table.add_row(m["name"], m["origin"], "[red]unreadable[/]", "", "", "", "", m["error"][:60])
                continue
            met = m.get("metrics") or {}
            table.add_row(
                m["name"], m["origin"], str(m.get("corpus", "")), f"{m.get('params') or 0:,}", str(m.get("size_mb")),
                f"{met['nll_per_token']:.3f}" if "nll_per_token" in met else "-",
                f"{met['nll_per_quarter']:.3f}" if "nll_per_quarter" in met else "-",
                m.get("card", ""),
            )
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``generate``, ``continue`` and ``models`` to ``app``."""
    app.command("generate")(generate)
    app.command("continue")(continue_)
    app.command("models")(models)
