"""Cross-validated choice of the local-key settings by chorale (issue 13, rounds 11-12).

Run ``python benchmarks/bench_key_cv.py [DIR]``: the tuning chorales (riemenschneider001-010)
and the When-in-Rome analyses in ``DIR`` (see ``bench_key_annotated.py``; never a benchmark
chorale's BWV movement), all from MIDI, scored per chorale under each candidate setting
(:data:`CANDIDATES`, each a set of module constants changed from round 10's settings
(:data:`ROUND_10`); the first is round 10, the baseline).  Then
K-fold cross-validation by chorale (chorale ``i`` of the sorted list in fold ``i % K``): in
each fold the candidate with the most key hits on the other folds is chosen and scored on the
fold; the pooled out-of-fold key score of that procedure is set against round 10's.
Each candidate's per-fold scores, the pooled scores, and the Tymoczko-analysed subset (the
held-out part's analyst) are printed too.  The held-out part is never loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

HELD_ENDS = ("fermata", "long_note", "rest")  # phrase ends heard in the rhythm, not found by a cadence alone
# round 10's settings of the constants that round 12 changed; every candidate is a change from them
ROUND_10: dict[str, Any] = {"keyfinding.NEW_NOTE_SPAN": (1, 2), "pivots.EXCURSION_BEATS": 0}
# name -> {"module.CONSTANT": value} on top of ROUND_10; "round 10" (the first) is the baseline
CANDIDATES: dict[str, dict[str, Any]] = {
    "round 10": {},
    "no cadence bonus": {"chords.CADENCE_BONUS": 0.0},
    "evidence 1.75": {"keyfinding.EVIDENCE_WEIGHT": 1.75},
    "round 9 (span 6)": {"chords.CADENCE_SPAN": 6},
    "modulation 0.75": {"keyfinding.MODULATION_PENALTY": 0.75},
    "modulation 1.25": {"keyfinding.MODULATION_PENALTY": 1.25},
    "pivot rule off": {"chords.PIVOT_IN_OLD_KEY": False},
    "half-beat changes off": {"chords.NEW_NOTE_BETWEEN_BEATS": False},
    "tonicized back 2": {"chords.TONICIZED_BACK_BEATS": 2},
    "new-note span (1, 1)": {"keyfinding.NEW_NOTE_SPAN": (1, 1)},
    "new-note span (2, 2)": {"keyfinding.NEW_NOTE_SPAN": (2, 2)},
    # round 12: the pivot rule past more than one beat, and blocked only by a new chord tone
    "pivot 2 beats": {"pivots.PIVOT_BEATS": 2},
    "pivot 3 beats": {"pivots.PIVOT_BEATS": 3},
    "pivot chord notes": {"pivots.PIVOT_CHORD_NOTES": True},
    "pivot 2 beats, chord notes": {"pivots.PIVOT_BEATS": 2, "pivots.PIVOT_CHORD_NOTES": True},
    # round 12: a short excursion with no V-I arrival of its own read in the key around it
    "excursions 4": {"pivots.EXCURSION_BEATS": 4},
    "excursions 8": {"pivots.EXCURSION_BEATS": 8},
    # round 12: a key change a few beats into a phrase moved back to the phrase's start
    "phrase starts 2": {"pivots.PHRASE_START_BEATS": 2},
    "phrase starts 4": {"pivots.PHRASE_START_BEATS": 4},
    "phrase starts 2, held ends": {"pivots.PHRASE_START_BEATS": 2, "pivots.PHRASE_ENDS": HELD_ENDS},
    "phrase starts 4, held ends": {"pivots.PHRASE_START_BEATS": 4, "pivots.PHRASE_ENDS": HELD_ENDS},
    # round 12, added after the first run of the above: the two best together (the code since round 12)
    "new-note span (1, 1), excursions 4": {"keyfinding.NEW_NOTE_SPAN": (1, 1), "pivots.EXCURSION_BEATS": 4},
}
TYMOCZKO_TUNING = {f"riemenschneider{i:03d}" for i in range(7, 21)}  # 001-006 are Andrew Jones's


def _analyst(name: str) -> str:
    p = Path(name)
    if p.exists():
        for line in p.read_text().splitlines():
            if line.startswith("Analyst:"):
                return line.split(":", 1)[1].strip()
    return "Dmitri Tymoczko" if Path(name).stem in TYMOCZKO_TUNING else "Andrew Jones"


def _apply(setting: dict[str, Any]) -> dict[str, Any]:
    """Set the constants; return the old values."""
    from composer.harmony import chords, keyfinding, pivots

    mods = {"chords": chords, "keyfinding": keyfinding, "pivots": pivots}
    old = {}
    for k, v in setting.items():
        m, a = k.split(".")
        old[k] = getattr(mods[m], a)
        setattr(mods[m], a, v)
    return old


def score_all(pieces: list[Any], candidates: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[int]]]:
    """candidate -> chorale -> [onsets, key, exact, numeral, fermatas, fermatas hit]."""
    import bench_analysis_accuracy as bench

    out: dict[str, dict[str, list[int]]] = {}
    for cname, setting in candidates.items():
        old = _apply({**ROUND_10, **setting})
        try:
            out[cname] = {}
            for p in pieces:
                t = bench.score_ours(p, "midi", [])
                out[cname][p.name] = [t.n, t.key, t.exact, t.numeral, t.fermatas, t.fermatas_hit]
        finally:
            _apply(old)
    return out


def _pct(rows: list[list[int]], col: int = 1) -> float:
    n = sum(r[0] for r in rows)
    return round(100 * sum(r[col] for r in rows) / max(n, 1), 1)


def cross_validate(scores: dict[str, dict[str, list[int]]], names: list[str], k: int) -> dict[str, Any]:
    """K-fold by chorale: per fold, the candidate best on the rest, scored on the fold."""
    folds = [[n for i, n in enumerate(names) if i % k == f] for f in range(k)]
    first = next(iter(scores))
    chosen, oof, base = [], [], []
    per_fold: dict[str, list[float]] = {c: [] for c in scores}
    for f, test in enumerate(folds):
        train = [n for g, fold in enumerate(folds) if g != f for n in fold]
        best = max(scores, key=lambda c: (sum(scores[c][n][1] for n in train), c == first))
        chosen.append(best)
        oof += [scores[best][n] for n in test]
        base += [scores[first][n] for n in test]
        for c in scores:
            per_fold[c].append(_pct([scores[c][n] for n in test]))
    return {"folds": k, "chosen": chosen, "out_of_fold": _pct(oof), first: _pct(base), "per_fold": per_fold}


def main(argv: list[str] | None = None) -> int:
    import bench_analysis_accuracy as bench
    import bench_key_annotated as annotated
    import music21

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", type=Path, default=annotated.default_dir())
    ap.add_argument("--folds", type=int, nargs="+", default=[2, 5])
    ap.add_argument("--out", type=Path, help="write the figures here (JSON)")
    args = ap.parse_args(argv)
    names, _ = annotated.analyses(args.folder)
    if not names:
        print(f"no analyses in {args.folder}")
        return 1
    cache = Path(tempfile.gettempdir()) / f"composer-accuracy-v2-{music21.__version__}"
    main_mod = sys.modules["__main__"]  # pickles written by bench_analysis_accuracy run as a script
    main_mod.Piece, main_mod.Item = bench.Piece, bench.Item  # type: ignore[attr-defined]
    pieces = bench.load_pieces(list(bench.TUNING_CHORALES) + names, cache)
    scores = score_all(pieces, CANDIDATES)
    order = [p.name for p in pieces]
    tym = [n for n in order if _analyst(n) == "Dmitri Tymoczko"]
    tuning = set(bench.TUNING_CHORALES)
    report: dict[str, Any] = {"chorales": len(order), "tymoczko": len(tym), "candidates": {}}
    report["columns"] = "onsets, key, exact, numeral, fermatas, fermatas hit (MIDI)"
    for c, s in scores.items():
        rows = list(s.values())
        report["candidates"][c] = {
            "setting": CANDIDATES[c],
            "all_key": _pct(rows),
            "all_exact": _pct(rows, 2),
            "tymoczko_key": _pct([s[n] for n in tym]),
            "tuning_key": _pct([s[n] for n in order if n in tuning]),
            "annotated_key": _pct([s[n] for n in order if n not in tuning]),
            "cadence_recall": round(100 * sum(r[5] for r in rows) / max(sum(r[4] for r in rows), 1), 1),
        }
        print(c, json.dumps(report["candidates"][c]), flush=True)
    report["cv"] = [cross_validate(scores, order, k) for k in args.folds]
    for cv in report["cv"]:
        print(json.dumps(cv))
    if args.out:
        pieces_out = {c: {Path(n).stem: r for n, r in s.items()} for c, s in scores.items()}
        args.out.write_text(json.dumps({**report, "pieces": pieces_out}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
