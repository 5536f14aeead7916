"""Benchmark `composer analyze`: music21 import time and the analysis of a 64-bar 4-voice piece.

Plain script: ``.venv/bin/python benchmarks/bench_analyze.py`` writes
``benchmarks/results/analyze.json``.  The 64-bar piece is built from Bach
chorales of the music21 corpus (concatenated, 4 voices, written to MIDI) so the
harmony is real; the import is timed in a fresh interpreter.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHORALES = ("bach/bwv66.6", "bach/bwv253", "bach/bwv347", "bach/bwv269", "bach/bwv86.6")
TARGET_BARS = 64


def _import_time(module: str, repeats: int = 3) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeats)
    ]
    return statistics.median(runs)


def _build_64_bars(path: Path) -> int:
    """Concatenate chorales (4 parts each, as MIDI tracks) up to 64 bars of 4/4."""
    from music21 import corpus

    from composer.events import Note
    from composer.files import write_bytes_atomic
    from composer.midifile import load_score, pitched_notes

    voices: list[list[Note]] = [[], [], [], []]
    offset = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        while offset < TARGET_BARS * 4:
            for name in CHORALES:
                mid = Path(tmp) / "c.mid"
                corpus.parse(name).write("midi", fp=str(mid))
                score = load_score(mid)
                length = 0.0
                for v, track in enumerate(t for t in score.tracks if len(t.notes)):
                    sub = score.copy()
                    sub.tracks = [track]
                    for n in pitched_notes(sub):
                        if offset + n.start < TARGET_BARS * 4:
                            end = min(n.end, TARGET_BARS * 4 - offset)
                            voices[v].append(Note(offset + n.start, n.pitch, end - n.start))
                        length = max(length, n.end)
                offset += -(-length // 4) * 4  # next whole bar
                if offset >= TARGET_BARS * 4:
                    break
    from symusic import Note as SNote
    from symusic import Score, Tempo, TimeSignature, Track

    score = Score(480)
    score.tempos.append(Tempo(0, qpm=90.0))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    for name, voice in zip("SATB", voices, strict=True):
        track = Track(name, 52, False)
        for n in voice:
            track.notes.append(SNote(round(n.start * 480), round(n.duration * 480), n.pitch, 80))
        score.tracks.append(track)
    write_bytes_atomic(bytes(score.dumps_midi()), path, force=True)
    return sum(len(v) for v in voices)


def main() -> None:
    """Run the benchmark and write benchmarks/results/analyze.json."""
    music21_import = _import_time("music21")
    harmony_import = _import_time("composer.harmony")
    import music21  # noqa: F401  (imported once so the analysis timings exclude it)

    from composer.harmony import analyze_file, analyze_notes, load_piece

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "piece64.mid"
        notes = _build_64_bars(path)
        cold_start = time.perf_counter()
        analysis = analyze_file(path)
        cold = time.perf_counter() - cold_start
        warm_runs = []
        for _ in range(3):
            t = time.perf_counter()
            analyze_file(path)
            warm_runs.append(time.perf_counter() - t)
        merged = sorted(load_piece(path).notes)
        t = time.perf_counter()
        merged_analysis = analyze_notes(merged)
        merged_time = time.perf_counter() - t
    result = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
        },
        "music21_version": music21.__version__,
        "import_music21_s": round(music21_import, 3),
        "import_composer_harmony_s": round(harmony_import, 3),
        "piece": {
            "bars": analysis.bars,
            "voices": analysis.voices.count,
            "notes": notes,
            "chords": len(analysis.chords),
        },
        "analyze_file_first_s": round(cold, 3),
        "analyze_file_repeat_s_median": round(statistics.median(warm_runs), 3),
        "analyze_notes_single_track_s": round(merged_time, 3),
        "single_track_voices": merged_analysis.voices.count,
        "budget_s": 5.0,
    }
    out = HERE / "results" / "analyze.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
