"""Cross-validated choice of the local-key settings by chorale (issue 13, rounds 11-13).

Run ``python benchmarks/bench_key_cv.py [DIR]``: the tuning chorales (riemenschneider001-010)
and the When-in-Rome analyses in ``DIR`` (see ``bench_key_annotated.py``; never a benchmark
chorale's BWV movement), all from MIDI, scored per chorale under each candidate setting
(:data:`CANDIDATES`, each a set of module constants changed from the code's settings,
:data:`BASELINE`; the first is the code as it stands, round 12).  Then
K-fold cross-validation by chorale (chorale ``i`` of the sorted list in fold ``i % K``): in
each fold the candidate with the most key hits on the other folds is chosen and scored on the
fold; the pooled out-of-fold key score of that procedure is set against the baseline's.
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

# Round 13: the baseline is the code as it stands (round 12's settings with the two review fixes
# on excursions, which change no score of the 53); every candidate is a change of module
# constants from it.  Rounds 11-12's candidates (changes from round 10's settings) are in this
# file's history and their tables in RESULTS.md.
BASELINE: dict[str, Any] = {}
# name -> {"module.CONSTANT": value} on top of BASELINE; "round 13" (the first) is the baseline
CANDIDATES: dict[str, dict[str, Any]] = {
    "round 13": {},
    # the review notes on round 12, undone: an excursion confirmed by the parallel major's half
    # bonus too (round 12), folded in one pass (round 12); both (round 12's code)
    "excursions: parallel arrivals": {"chords.EXCURSION_OWN_ARRIVAL": False},
    "excursions: one pass": {"pivots.EXCURSION_REPEAT": False},
    "round 12": {"chords.EXCURSION_OWN_ARRIVAL": False, "pivots.EXCURSION_REPEAT": False},
    # a change into the relative minor moved back over the minor key's own chords before it
    "relative minor: 1 beat back": {"pivots.PREDOMINANT_BEATS": 1},
    "relative minor: 2 beats back": {"pivots.PREDOMINANT_BEATS": 2},
    "relative minor: 3 beats back": {"pivots.PREDOMINANT_BEATS": 3},
    "any key: 2 beats back": {"pivots.PREDOMINANT_BEATS": 2, "pivots.PREDOMINANT_ALL": True},
    # the bass weighs more in each beat's key evidence (its tonic and dominant)
    "bass weight 0.5": {"chords.BASS_KEY_WEIGHT": 0.5},
    "bass weight 1.0": {"chords.BASS_KEY_WEIGHT": 1.0},
    # round 8's tonicized half cadences (V/V V read as I of the dominant key) off
    "tonicized half cadences off": {"analysis.TONICIZED_HALF_CADENCES": False},
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
    from composer.harmony import analysis, cadences, chords, keyfinding, pivots

    mods = {"analysis": analysis, "cadences": cadences, "chords": chords, "keyfinding": keyfinding, "pivots": pivots}
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
        old = _apply({**BASELINE, **setting})
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
