"""Cadences from MIDI against the fermatas of Bach chorales outside the accuracy benchmark (issue 13).

Run ``python benchmarks/bench_cadence_dev.py [--pieces N] [--misses]``: recall and precision of
``composer analyze``'s cadences at the soprano fermatas of chorale scores that are not in
``bench_analysis_accuracy.CHORALES`` (tuning or held-out), analysed from their MIDI rendering
(repeats not expanded, chord symbols left out, as the benchmark renders them; no fermatas reach
the analysis).  A cadence within one beat of a fermata is a hit.  A development set for the
phrase-end rules (round 6): ten tuning chorales have 64 fermatas, too few to choose cadence
rules on; these chorales have no expert Roman numerals, only their fermatas.

The scores: music21's ``bach/bwv*.mxl`` in file-name order, leaving out the benchmark's BWV
movements and any score whose soprano and bass lines are a benchmark chorale's
(``build_key_profiles.training_files`` / ``benchmark_lines``), one setting per BWV movement, four
parts, at least two fermatas; the first ``--pieces`` (150) of them.  MIDI renderings are cached in
``$TMPDIR/composer-cadence-dev-<music21 version>``.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

TOLERANCE = 1.0  # beats between a cadence and a fermata


def prepare(cache: Path, limit: int) -> list[tuple[str, str, list[float]]]:
    """(score name, MIDI path, fermata offsets) of the first ``limit`` development chorales."""
    import build_key_profiles as kp
    from music21 import bar, converter, expressions, harmony, stream

    from composer.harmony import load_piece

    index = cache / f"index-{limit}.pkl"
    if index.exists():
        return list(pickle.loads(index.read_bytes()))
    cache.mkdir(parents=True, exist_ok=True)
    files, _ = kp.training_files()
    bench_lines = kp.benchmark_lines()
    out: list[tuple[str, str, list[float]]] = []
    seen: set[str] = set()
    for path in files:
        base = kp._base(path.stem)
        if base in seen:
            continue
        try:
            score: Any = converter.parse(str(path))
            parts = list(score.parts)
            if len(parts) != 4:
                continue
            fermatas = sorted(
                {
                    round(float(n.getOffsetInHierarchy(parts[0])), 4)
                    for n in parts[0].flatten().notes
                    if any(isinstance(e, expressions.Fermata) for e in n.expressions)
                }
            )
            if len(fermatas) < 2 or kp._lines(load_piece(path)) in bench_lines:
                continue
            for m in score.recurse().getElementsByClass(stream.Measure):
                if isinstance(m.leftBarline, bar.Repeat):
                    m.leftBarline = bar.Barline()
                if isinstance(m.rightBarline, bar.Repeat):
                    m.rightBarline = bar.Barline()
            for h in list(score.recurse().getElementsByClass(harmony.Harmony)):
                h.activeSite.remove(h)
            midi = cache / (path.stem + ".mid")
            score.write("midi", fp=str(midi))
        except Exception as exc:  # a score music21 cannot take: skip it
            print(f"skipped {path.name}: {type(exc).__name__}", file=sys.stderr)
            continue
        seen.add(base)
        out.append((path.name, str(midi), fermatas))
        if len(out) >= limit:
            break
    index.write_bytes(pickle.dumps(out))
    return out


def main(argv: list[str] | None = None) -> int:
    import music21

    from composer.harmony import analyze_file

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pieces", type=int, default=150)
    ap.add_argument("--misses", action="store_true", help="list the fermatas without a cadence")
    args = ap.parse_args(argv)
    cache = Path(tempfile.gettempdir()) / f"composer-cadence-dev-{music21.__version__}"
    items = prepare(cache, args.pieces)
    n_ferm = hits = n_cad = cad_hits = 0
    misses = []
    for name, midi, fermatas in items:
        cads = [c.offset for c in analyze_file(midi).cadences]
        found = [any(abs(c - f) <= TOLERANCE for c in cads) for f in fermatas]
        n_ferm += len(fermatas)
        hits += sum(found)
        n_cad += len(cads)
        cad_hits += sum(any(abs(c - f) <= TOLERANCE for f in fermatas) for c in cads)
        misses += [f"{name} @{f}" for f, ok in zip(fermatas, found, strict=True) if not ok]
    print(
        f"{len(items)} chorales, {n_ferm} fermatas, {n_cad} cadences: "
        f"recall {100 * hits / max(n_ferm, 1):.1f}  precision {100 * cad_hits / max(n_cad, 1):.1f}"
    )
    if args.misses:
        print("\n".join(misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
