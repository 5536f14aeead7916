"""Local keys from MIDI against expert analyses of Bach chorales outside the benchmark (issue 13).

Run ``python benchmarks/bench_key_annotated.py [DIR]``: a third development set for the key
rules (round 10), with Roman numerals this time.  ``DIR`` (default ``$COMPOSER_RNTXT_DIR`` or
``$TMPDIR/composer-rntxt``) holds RomanText analyses (``*.rntxt``) of Bach chorales: the
same analyst's (Dmitri Tymoczko's, proofread by Hamish Robb) analyses of the Riemenschneider
chorales after the twenty music21 ships, as the When-in-Rome corpus publishes them
(``Corpus/Early_Choral/Bach,_Johann_Sebastian/Chorales/NNN/analysis.txt``, CC BY-SA; not
copied into this repository).  Each names its BWV number; the score is music21's corpus
chorale of that number, rendered to MIDI and scored per annotated onset exactly as
``bench_analysis_accuracy.py`` scores its chorales (key, exact, numeral; cadences at the
fermatas).  Analyses of a benchmark chorale's BWV movement are left out, so this set never
sees the held-out part.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def default_dir() -> Path:
    return Path(os.environ.get("COMPOSER_RNTXT_DIR", Path(tempfile.gettempdir()) / "composer-rntxt"))


def analyses(folder: Path, exclude: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """(the analyses to score, those left out as a benchmark chorale's BWV movement or one in ``exclude``)."""
    import bench_analysis_accuracy as bench
    from music21 import corpus

    bench_works = {bench._bwv_work(str(corpus.getWork(n))) for n in bench.CHORALES} | exclude
    keep, dropped = [], []
    for f in sorted(folder.glob("*.rntxt")):
        (dropped if bench._bwv_work(str(f)) in bench_works else keep).append(str(f))
    return keep, dropped


def main(argv: list[str] | None = None) -> int:
    import bench_analysis_accuracy as bench
    import music21

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", type=Path, default=default_dir())
    ap.add_argument("--errors", type=Path, help="write our key misses here")
    ap.add_argument("--out", type=Path, help="write the figures here (JSON)")
    ap.add_argument("--baseline", action="store_true", help="also plain music21 (one global key, chordify)")
    args = ap.parse_args(argv)
    names, dropped = analyses(args.folder)
    if not names:
        print(f"no analyses in {args.folder}")
        return 1
    cache = Path(tempfile.gettempdir()) / f"composer-accuracy-v2-{music21.__version__}"
    pieces = bench.load_pieces(names, cache)
    total, base = bench.Tally(), bench.Tally()
    errors: list[str] = []
    per_piece = {}
    for p in pieces:
        t = bench.score_ours(p, "midi", errors)
        total.add(t)
        per_piece[Path(p.name).stem] = t.report()
        if args.baseline:
            base.add(bench.score_baseline(p, "midi"))
    report: dict[str, object] = {"analyses": len(pieces), "left_out": [Path(d).stem for d in dropped]}
    report["midi"] = total.report()
    if args.baseline:
        report["music21_midi"] = base.report()
    print(json.dumps(report))
    if args.errors:
        args.errors.write_text("\n".join(errors) + "\n")
    if args.out:
        args.out.write_text(json.dumps({**report, "pieces": per_piece}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
