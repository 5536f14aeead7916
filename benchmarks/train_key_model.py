"""Fit and cross-validate the learned local-key model (issue 13, round 14; composer/harmony/keymodel.py).

Run ``python benchmarks/train_key_model.py [DIR] [--write]``.  Data: the 53 annotated Bach
chorales of ``bench_key_cv.py``, all from MIDI: the tuning chorales riemenschneider001-010 (the
expert analyses music21 ships, by Andrew Jones and Dmitri Tymoczko) and the When-in-Rome
analyses in ``DIR`` (Dmitri Tymoczko's, proofread by Hamish Robb, CC BY-SA; see
``bench_key_annotated.py``; never a benchmark chorale's BWV movement).  The held-out part
(riemenschneider011-020) is never loaded.

Each chorale is analysed once by the rule path (``chords.LEARNED_KEYS`` on, with
:func:`keymodel.learned_path` replaced by a recorder that returns the rule path), which gives
each beat's inputs; each annotated onset is one sample: the features of its beat against the
analyst's key.  The model is a softmax over the 24 keys (:func:`keymodel.key_scores`) fit by
full-batch Adam on the mean log-loss plus ``L2`` times half the squared weights; the key-change
cost of the Viterbi pass is chosen from :data:`COSTS` by a 2-fold split of the training
chorales (beat-level key hits at the annotated onsets).

Then K-fold cross-validation by chorale (chorale ``i`` in fold ``i % K``, as in
``bench_key_cv.py``): the model is fit on the other folds and the fold's chorales analysed in
full with it (``bench_analysis_accuracy.score_ours``), pooled out-of-fold key / exact /
numeral, and cadence recall at the fermatas, against the rule path (the code with
``LEARNED_KEYS`` off).  ``--write`` fits on all 53 and writes the model to composer/harmony/key_model.json.
``--extra DIR`` (round 15): more annotated chorales (the same BWV exclusion) added to every
training set, the cost-choosing split and ``--write``'s fit included, and never scored; an
extra analysis of the same BWV movement as one of the 53 is left out too (round 16).
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

L2 = 1e-3  # weight of half the squared weights against the mean log-loss per onset
STEPS = 400  # Adam steps
LEARNING_RATE = 0.05
MIN_FIT = 0.75  # an extra analysis whose chords sound less than this in its corpus score is left out
COSTS = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)  # key-change costs tried (nats)


def capture(pieces: list[Any]) -> dict[str, dict[str, Any]]:
    """name -> the final harmony pass's key-model inputs, beat starts, samples (beat, key index)."""
    import bench_analysis_accuracy as bench

    from composer.harmony import chords, keymodel, load_piece
    from composer.harmony.slices import make_slices

    out: dict[str, dict[str, Any]] = {}
    seen: list[tuple[Any, ...]] = []
    real = keymodel.learned_path

    def record(vectors: Any, bass: Any, chords_: Any, rule: Any, arrived: Any, *a: Any, **k: Any) -> list[int]:
        seen.append((np.array(vectors), list(bass), list(chords_), list(rule), np.array(arrived)))
        return list(rule)

    old = chords.LEARNED_KEYS
    chords.LEARNED_KEYS, keymodel.learned_path = True, record
    try:
        for p in pieces:
            seen.clear()
            bench.score_ours(p, "midi", [])
            vectors, bass, chs, rule, arrived = seen[-1]
            sl = make_slices(load_piece(p.midi_path))
            starts = [sl.starts[i] for i, s in enumerate(sl.strength) if s >= 2]
            assert len(starts) == len(rule), p.name
            samples = []
            for it in p.items:
                b = max(0, bisect.bisect_right(starts, it.offset + 1e-3) - 1)
                samples.append((b, it.key[0] % 12 + (12 if it.key[1] == "minor" else 0)))
            feats = keymodel.features(vectors, bass, chs, rule, arrived)
            out[p.name] = {"inputs": (vectors, bass, chs, rule, arrived), "feats": feats, "samples": samples}
    finally:
        chords.LEARNED_KEYS, keymodel.learned_path = old, real
    return out


def fit(data: dict[str, dict[str, Any]], names: list[str]) -> Any:
    """(2, F + 1) weights fit on the onsets of ``names``."""
    xs, ys = [], []
    for n in names:
        beats = [b for b, _ in data[n]["samples"]]
        xs.append(data[n]["feats"][beats])
        ys += [k for _, k in data[n]["samples"]]
    x = np.concatenate(xs)  # (S, 24, F)
    y = np.array(ys)
    s, _, f = x.shape
    x1 = np.concatenate([x, np.ones((s, 24, 1))], axis=2)
    w = np.zeros((2, f + 1))
    m, v = np.zeros_like(w), np.zeros_like(w)
    onehot = np.zeros((s, 24))
    onehot[np.arange(s), y] = 1.0
    reg = np.ones(f + 1)
    reg[-1] = 0.0
    for step in range(1, STEPS + 1):
        z = np.concatenate([x1[:, :12] @ w[0], x1[:, 12:] @ w[1]], axis=1)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        d = (p - onehot) / s
        g = np.stack([np.einsum("sk,skf->f", d[:, :12], x1[:, :12]), np.einsum("sk,skf->f", d[:, 12:], x1[:, 12:])])
        g += L2 * w * reg
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w -= LEARNING_RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return w


def beat_hits(data: dict[str, dict[str, Any]], names: list[str], w: Any, cost: float) -> int:
    """Annotated onsets whose beat's decoded key is the analyst's."""
    from composer.harmony import keymodel

    hits = 0
    for n in names:
        path = keymodel.decode(keymodel.key_scores(data[n]["feats"], w), cost)
        hits += sum(path[b] == k for b, k in data[n]["samples"])
    return hits


def train(data: dict[str, dict[str, Any]], names: list[str]) -> tuple[Any, float]:
    """Weights fit on ``names`` and the change cost chosen by a 2-fold split of them."""
    halves = [names[0::2], names[1::2]]
    ws = [fit(data, halves[1 - h]) for h in range(2)]
    totals = {c: sum(beat_hits(data, halves[h], ws[h], c) for h in range(2)) for c in COSTS}
    cost = max(COSTS, key=lambda c: (totals[c], -abs(c - 3.0)))
    return fit(data, names), cost


def score(pieces: list[Any], learned: tuple[Any, float] | None) -> dict[str, list[int]]:
    """name -> [onsets, key, exact, numeral, fermatas, fermatas hit], the model on or off."""
    import bench_analysis_accuracy as bench

    from composer.harmony import chords, keymodel

    old = chords.LEARNED_KEYS, keymodel.shipped_model
    try:
        chords.LEARNED_KEYS = learned is not None
        if learned is not None:
            keymodel.shipped_model = lambda: learned  # type: ignore[assignment]
        out = {}
        for p in pieces:
            t = bench.score_ours(p, "midi", [])
            out[p.name] = [t.n, t.key, t.exact, t.numeral, t.fermatas, t.fermatas_hit]
        return out
    finally:
        chords.LEARNED_KEYS, keymodel.shipped_model = old


def _summary(rows: dict[str, list[int]], tuning: set[str]) -> dict[str, float]:
    def pct(rs: list[list[int]], col: int) -> float:
        return round(100 * sum(r[col] for r in rs) / max(sum(r[0] for r in rs), 1), 1)

    allr = list(rows.values())
    tun = [r for n, r in rows.items() if n in tuning]
    return {
        "key": pct(allr, 1), "exact": pct(allr, 2), "numeral": pct(allr, 3),
        "tuning_key": pct(tun, 1), "tuning_exact": pct(tun, 2), "tuning_numeral": pct(tun, 3),
        "cadence_recall": round(100 * sum(r[5] for r in allr) / max(sum(r[4] for r in allr), 1), 1),
        "tuning_cadence_recall": round(100 * sum(r[5] for r in tun) / max(sum(r[4] for r in tun), 1), 1),
    }


def write_weights(w: Any, cost: float, chorales: int, onsets: int) -> None:
    """Write the weights and change cost to composer/harmony/key_model.json."""
    from composer.harmony import keymodel

    model = {
        "about": "composer/harmony/keymodel.py's learned local-key model, written by benchmarks/train_key_model.py",
        "data": f"{chorales} Bach chorales, {onsets} annotated onsets: music21's riemenschneider001-010 analyses "
        "and the When-in-Rome corpus's (CC BY-SA); see docs/analysis.md",
        "l2": L2, "steps": STEPS, "n_features": keymodel.N_FEATURES, "change_cost": cost,
        "weights": [[round(float(x), 4) for x in row] for row in w],
    }
    keymodel.MODEL_FILE.write_text(json.dumps(model) + "\n")


def chord_fit(piece: Any) -> float:
    """The share of the analysis's chord tones sounding in the corpus score where it places them.

    Low when the analysis is of another version of the chorale than the score music21 finds for its
    BWV number (the 43 chorales of round 14 score 0.77-1.00; of the 265 extras of round 16, five score
    0.43-0.63 and the others 0.87-1.00).
    """
    import bench_analysis_accuracy as bench
    from music21 import converter

    snd = bench._sounding(converter.parse(piece.score_path))
    tones = sum(len(i.pcs) for i in piece.items)
    return bench.tones_sounding(snd, ((i.offset, i.pcs) for i in piece.items)) / max(tones, 1)


def main(argv: list[str] | None = None) -> int:
    import bench_analysis_accuracy as bench
    import bench_key_annotated as annotated
    import music21

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", nargs="?", type=Path, default=annotated.default_dir())
    ap.add_argument("--folds", type=int, nargs="*", default=[2, 5])
    ap.add_argument("--write", action="store_true", help="fit on all 53 and write key_model.json")
    ap.add_argument("--out", type=Path, help="write the figures here (JSON)")
    ap.add_argument("--extra", type=Path, help="a folder of more analyses: trained on in every fold, never scored")
    args = ap.parse_args(argv)
    names, _ = annotated.analyses(args.folder)
    # an extra analysis of a scored chorale's BWV movement would leak into that chorale's fold
    scored = frozenset(bench._bwv_work(n) for n in names)
    extra_names, extra_dropped = annotated.analyses(args.extra, scored) if args.extra else ([], [])
    cache = Path(tempfile.gettempdir()) / f"composer-accuracy-v2-{music21.__version__}"
    main_mod = sys.modules["__main__"]
    main_mod.Piece, main_mod.Item = bench.Piece, bench.Item  # type: ignore[attr-defined]
    pieces = bench.load_pieces(list(bench.TUNING_CHORALES) + names, cache)
    assert not any(p.name in bench.CHORALES[10:] for p in pieces)  # the held-out part: never
    order = [p.name for p in pieces]
    tuning = set(bench.TUNING_CHORALES)
    data = capture(pieces)
    print(f"{len(order)} chorales, {sum(len(d['samples']) for d in data.values())} onsets", flush=True)
    report: dict[str, Any] = {"chorales": len(order), "l2": L2, "steps": STEPS, "costs": list(COSTS), "cv": []}
    extra = []
    if extra_names:
        extra_pieces = bench.load_pieces(extra_names, cache)
        assert not any(p.name in bench.CHORALES for p in extra_pieces)
        fits = {p.name: chord_fit(p) for p in extra_pieces}
        mismatched = {Path(n).stem: round(f, 3) for n, f in fits.items() if f < MIN_FIT}
        extra_pieces = [p for p in extra_pieces if fits[p.name] >= MIN_FIT]
        data.update(capture(extra_pieces))
        extra = [p.name for p in extra_pieces]
        report["extra"] = {"chorales": len(extra), "onsets": sum(len(data[n]["samples"]) for n in extra),
                           "names": [Path(n).stem for n in extra], "left_out": [Path(d).stem for d in extra_dropped],
                           "mismatched": mismatched}
        print(f"extra: {len(extra)} chorales, {report['extra']['onsets']} onsets (training only); left out:",
              [Path(d).stem for d in extra_dropped], "mismatched:", mismatched, flush=True)
    report["rule_path"] = base = score(pieces, None)
    report["rule_summary"] = _summary(base, tuning)
    print("rule path", json.dumps(report["rule_summary"]), flush=True)
    for k in args.folds:
        folds = [[n for i, n in enumerate(order) if i % k == f] for f in range(k)]
        oof: dict[str, list[int]] = {}
        chosen = []
        for test in folds:
            w, cost = train(data, [n for n in order if n not in test] + extra)
            chosen.append(cost)
            oof.update(score([p for p in pieces if p.name in test], (w, cost)))
        row = {"folds": k, "costs": chosen, "learned": _summary(oof, tuning), "pieces": oof}
        report["cv"].append(row)
        print(f"K={k}", chosen, json.dumps(row["learned"]), flush=True)
    if args.write:
        w, cost = train(data, order + extra)
        write_weights(w, cost, len(order) + len(extra), sum(len(d["samples"]) for d in data.values()))
        report["shipped_cost"] = cost
        print("wrote key_model.json, change cost", cost)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
