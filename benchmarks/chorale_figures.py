"""Music figures of four-part chorales, the same code for generated pieces and Bach (issue 11 targets).

A :class:`Chorale` is one piece cut to its first bars and analyzed by ``composer.harmony``
(:func:`load_chorale`); :func:`figures_of` turns a list of them into the figures of the issue's
table; :func:`two_sample_auc` is the classifier two-sample test.  Rules, all on quarter-note beats:

* **beat sonority**: the pitch classes sounding at the onset of each quarter-note beat
  (0, 1, 2, ... from the first bar line up to the cut); beats where nothing sounds are skipped.
* **triad**: the sonority's pitch classes are a major, minor, diminished or augmented triad (any
  inversion, any doubling), or exactly two pitch classes a third / sixth apart (interval class
  3 or 4: an incomplete triad with its third).
* **seventh chord**: not a triad, and a dominant, minor, half-diminished, diminished or major
  seventh chord, complete (4 pitch classes) or without its fifth (root, third, seventh).
* **open**: one pitch class (unisons, octaves) or two a fourth / fifth apart: no third and no
  dissonance.
* **cluster**: anything else (the issue's "neither"; open sonorities are counted apart).
* **semitone clash**: two pitch classes of the sonority are a minor second / major seventh apart.
* **final chord on the tonic**: the sonority at the last onset has the tonic in the bass and
  only tonic-triad pitch classes (tonic, minor or major third, fifth: a Picardy third counts).
* **half note**: a note lasting 2 beats +- ``DURATION_TOLERANCE``; the duration histogram puts
  every note in the nearest of ``DURATION_BINS`` within that tolerance, else in "other".

Voice-leading faults, parallels, cadences and the key are the analysis's own (``composer analyze``):
voices are the tracks when they are monophonic, else the merged notes split by pitch order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from composer.events import Note, next_bar_line
from composer.generation.odds import MOTIONS, motion_of
from composer.harmony import (
    DURATION_BINS,
    DURATION_TOLERANCE,
    EXCERPT_BARS,
    ONSET_EPS,
    SEVENTHS,
    SONORITY_KINDS,
    STYLE_FEATURES,
    TRIADS,
    Analysis,
    analyze_piece,
    beat_sonorities,
    duration_bin,
    excerpt_features,
    has_clash,
    load_piece,
    piece_excerpts,
    piece_from_notes,
    shares,
    sonority_kind,
    sounding_at,
)
from composer.keys import parse_key
from composer.metrics import pitch_class_entropy, scale_consistency

KINDS = SONORITY_KINDS
FEATURES = STYLE_FEATURES
__all__ = ["DURATION_BINS", "DURATION_TOLERANCE", "ONSET_EPS", "SEVENTHS", "TRIADS", "beat_sonorities",
           "duration_bin", "has_clash", "sonority_kind", "sounding_at"]  # read from here by other scripts

# ---------------------------------------------------------------- one piece


@dataclass
class Chorale:
    """One piece cut to ``bars`` bars and analyzed; ``chosen_key`` when the generator recorded it."""

    name: str
    analysis: Analysis
    bars: int
    chosen_key: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def bar_beats(self) -> float:
        """Quarter notes per bar (the first time signature)."""
        p = self.analysis.piece
        return p.numerator * 4 / p.denominator

    @property
    def end(self) -> float:
        """The bar line after the last note: at most ``bars`` whole bars from beat 0."""
        return min(self.bars * self.bar_beats, next_bar_line(self.analysis.piece.end, self.bar_beats))


def cut_tracks(tracks: Sequence[Sequence[Note]], end: float) -> list[list[Note]]:
    """Notes starting before ``end``, held notes clipped at ``end``."""
    return [[Note(n.start, n.pitch, round(min(n.end, end) - n.start, 6), n.velocity)
             for n in t if n.start < end - 1e-9] for t in tracks]


def chorale_from_tracks(tracks: Sequence[Sequence[Note]], name: str, time_signature: tuple[int, int],
                        bars: int | None, chosen_key: str | None = None) -> Chorale:
    """Cut ``tracks`` to ``bars`` bars (bar lines from beat 0, no pickup guess; None: whole) and analyze them."""
    num, den = time_signature
    bar_beats = num * 4 / den
    if bars is None:
        bars = round(next_bar_line(max(n.end for t in tracks for n in t), bar_beats) / bar_beats)
    cut = [t for t in cut_tracks(tracks, bars * bar_beats) if t]
    piece = piece_from_notes(cut, name=name, time_signatures=[(0.0, num, den)], pickup=0.0)
    return Chorale(name, analyze_piece(piece), bars, chosen_key)


def load_chorale(path: str | Path, bars: int | None, chosen_key: str | None = None, merge: bool = False) -> Chorale:
    """Read a MIDI file through ``composer.harmony.load_piece`` and cut it to its first ``bars`` bars (None: whole).

    Monophonic tracks stay the voices (the analysis's rule); ``merge`` puts every note in one track
    first, so the voices are found by pitch order as for a one-track piece.  Bar lines are counted
    from beat 0 on both sides (the corpus's MIDI renderings pad a pickup to a full bar).
    """
    vp = load_piece(path)
    tracks = [list(v) for v in vp.voices] if vp.voice_mode == "tracks" and not merge else [list(vp.notes)]
    return chorale_from_tracks(tracks, Path(path).stem, (vp.numerator, vp.denominator), bars, chosen_key)


# ---------------------------------------------------------------- sonorities


def final_on_tonic(notes: Sequence[Note], key: str) -> bool:
    """Whether the sonority at the last onset is the tonic triad of ``key``, tonic in the bass."""
    notes = sorted(notes)
    last = sounding_at(notes, [n.start for n in notes], max(n.start for n in notes))
    tonic = parse_key(key) // 2
    rel = {(n.pitch - tonic) % 12 for n in last}
    bass = (min(n.pitch for n in last) - tonic) % 12
    return bass == 0 and rel <= {0, 3, 4, 7} and not {3, 4} <= rel


def same_key(a: str, b: str) -> bool:
    """Whether two key names (``"Bb major"``, ``"g minor"``, ...) name the same key."""
    return parse_key(a) == parse_key(b)


# ---------------------------------------------------------------- per piece, then pooled


def piece_counts(c: Chorale) -> dict[str, Any]:
    """The counts one piece adds to the pooled figures."""
    a = c.analysis
    notes = a.piece.notes
    sons = beat_sonorities(notes, 0.0, c.end)
    kinds = Counter(sonority_kind(s) for s in sons)
    counts = a.fault_counts
    final = a.final_cadence
    return {
        "beats": len(sons),
        **{k: kinds.get(k, 0) for k in KINDS},
        "clash": sum(has_clash(s) for s in sons),
        "duration_beats": a.duration_beats,
        "parallels": counts["parallel_fifths"] + counts["parallel_octaves"],
        "faults": len(a.faults),
        "cadences": len(a.cadences),
        "bars": a.bars,
        "authentic_final": bool(final and final.kind == "authentic"),
        "tonic_final_found": final_on_tonic(notes, a.key.name),
        "tonic_final_chosen": final_on_tonic(notes, c.chosen_key) if c.chosen_key else None,
        "key_match": same_key(a.key.name, c.chosen_key) if c.chosen_key else None,
        "durations": Counter(duration_bin(n.duration) for n in notes),
        "entropy": pitch_class_entropy(notes),
        "in_scale": scale_consistency(notes),
        "voices": a.voices.mode,
    }


def _share(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def _share_of_known(values: Sequence[bool | None]) -> dict[str, Any]:
    known = [v for v in values if v is not None]
    return {"share": _share(sum(known), len(known)), "count": sum(known), "of": len(known)}


def figures_of(pieces: Sequence[Chorale]) -> dict[str, Any]:
    """The issue's figures over ``pieces``: beat shares and rates pooled over all beats, piece shares.

    Beat shares are of the sounding beats of all pieces together; per-100-beat rates divide by the
    pieces' summed analysis length (``Analysis.duration_beats``); cadences per 16 bars by the summed
    ``Analysis.bars``; pitch-class entropy and in-scale share (``composer.metrics``) are means over pieces.
    """
    rows = [piece_counts(c) for c in pieces]
    beats = sum(r["beats"] for r in rows)
    dur = sum(r["duration_beats"] for r in rows)
    durations: Counter[str] = sum((r["durations"] for r in rows), Counter())
    notes = sum(durations.values())
    return {
        "pieces": len(rows),
        "beats": beats,
        **{f"{k}_share": _share(sum(r[k] for r in rows), beats) for k in KINDS},
        "clash_share": _share(sum(r["clash"] for r in rows), beats),
        "parallels_per_100_beats": _share(100 * sum(r["parallels"] for r in rows), dur),
        "faults_per_100_beats": _share(100 * sum(r["faults"] for r in rows), dur),
        "cadences_per_16_bars": _share(16 * sum(r["cadences"] for r in rows), sum(r["bars"] for r in rows)),
        "authentic_final": _share_of_known([r["authentic_final"] for r in rows]),
        "tonic_final_found_key": _share_of_known([r["tonic_final_found"] for r in rows]),
        "tonic_final_chosen_key": _share_of_known([r["tonic_final_chosen"] for r in rows]),
        "key_found_is_chosen": _share_of_known([r["key_match"] for r in rows]),
        "half_note_share": _share(durations.get("2", 0), notes),
        "durations": {b: _share(durations.get(b, 0), notes)
                      for b in [f"{x:g}" for x in DURATION_BINS] + ["other"]},
        "pitch_class_entropy": round(float(np.mean([r["entropy"] for r in rows])), 4) if rows else None,
        "in_scale_share": round(float(np.mean([r["in_scale"] for r in rows])), 4) if rows else None,
        "voices_from": dict(Counter(r["voices"] for r in rows)),
    }


# ---------------------------------------------------------------- chord labels (harmonizing)


_ROOT = re.compile(r"^([A-G])([#b]*)")
_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def label_root(symbol: str) -> int | None:
    """Pitch class of a chord symbol's root (``"F#m7"`` -> 6)."""
    m = _ROOT.match(symbol)
    if not m:
        return None
    return (_PC[m.group(1)] + m.group(2).count("#") - m.group(2).count("b")) % 12


def function_of(roman: str) -> str:
    """A Roman numeral without inversion or seventh figures (``"V65"`` -> ``"V"``, ``"viio7"`` -> ``"viio"``)."""
    return re.sub(r"\d", "", roman)


def label_match(bach: Chorale, other: Chorale) -> dict[str, Any]:
    """Shares of Bach's labeled beats where ``other``'s chord has the same root / root and function.

    Both sides are labeled by ``composer.harmony`` (``Analysis.chords``: a chord per beat, its
    Roman numeral in the local key each analysis finds); a beat where ``other`` has no chord
    does not match.
    """
    theirs = {round(c.offset, 3): c for c in other.analysis.chords}
    root = both = 0
    for c in bach.analysis.chords:
        o = theirs.get(round(c.offset, 3))
        if o is None or label_root(o.symbol) != label_root(c.symbol):
            continue
        root += 1
        both += function_of(o.roman) == function_of(c.roman)
    n = len(bach.analysis.chords)
    return {"beats": n, "root": root, "root_and_function": both}


# ---------------------------------------------------------------- classifier two-sample test


def excerpts(pieces: Sequence[Chorale], bars: int = EXCERPT_BARS) -> list[list[float]]:
    """Feature vectors (``composer.harmony.piece_excerpts``) of each piece's consecutive ``bars``-bar excerpts."""
    return [piece_excerpts(c.analysis, c.end, c.bar_beats, bars) for c in pieces]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> np.ndarray:
    """L2 logistic regression by Newton's method: weights then intercept (not penalized).

    Minimizes ``sum(log loss) + l2 / 2 * |w|^2`` (scikit-learn's ``C = 1 / l2``).
    """
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = l2 * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) + reg @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    pos, neg = scores[y == 1], scores[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def group_folds(labels: Sequence[int], k: int, seed: int) -> list[int]:
    """A fold per piece: each class's pieces shuffled (seeded) and dealt round-robin into ``k`` folds."""
    rng = np.random.default_rng(seed)
    fold = [0] * len(labels)
    for cls in sorted(set(labels)):
        idx = [i for i, lab in enumerate(labels) if lab == cls]
        for j, i in enumerate(rng.permutation(idx)):
            fold[int(i)] = j % k
    return fold


def _standardize(train: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(0), train.std(0)
    sd[sd < 1e-9] = 1.0
    return (train - mu) / sd, (other - mu) / sd


# ---------------------------------------------------------------- a second feature set: texture


#: Features the style model of best-of selection (``composer.harmony.StyleModel``) never reads, for a
#: second two-sample test: does a selection that makes the style statistics more like Bach's make the
#: rest of the texture more like his too, or only what it optimized?
SPACINGS = ("0-4", "5-9", "10-14", "15+")  # semitones between neighbouring voices on a beat
TEXTURE_FEATURES = (
    [f"onsets in the beat:{p:04b}" for p in range(16)] + [f"beat kinds:{a}>{b}" for a in KINDS for b in KINDS]
    + [f"motion:{a}>{b}" for a in MOTIONS for b in MOTIONS]
    + [f"spacing {k}-{k + 1}:{s}" for k in range(3) for s in SPACINGS] + [f"bass between beats:{i}" for i in range(7)]
)


def _motion(a: Note, b: Note) -> str:
    """The motion from ``a`` to ``b`` (``MOTIONS``: repeat, step <= 2 semitones up / down, leap up / down)."""
    return MOTIONS[motion_of(b.pitch - a.pitch)]


def _sounding(voice: Sequence[Note], t: float) -> Note | None:
    return next((n for n in voice if n.start <= t + ONSET_EPS < n.end), None)


def texture_features(c: Chorale, voices: Sequence[Sequence[Note]], t0: float, t1: float) -> list[float]:
    """``TEXTURE_FEATURES`` of ``[t0, t1)``: which 16ths of each voice's beats strike (a 4-bit pattern), the
    sonority kinds of successive beats, successive melodic motions of each voice, the spacing of neighbouring
    voices on the beats, and the bass's interval class between beats.  Every group a histogram of shares."""
    beats = range(math.ceil(t0 - 1e-9), math.ceil(t1 - 1e-9))
    rhythm, motion = [], []
    for v in voices:
        inside = [n for n in v if t0 - 1e-9 <= n.start < t1 - 1e-9]
        on = {round(n.start * 4) for n in inside}
        rhythm += [f"{sum(1 << (3 - q) for q in range(4) if b * 4 + q in on):04b}" for b in beats
                   if any(_sounding(v, b + q / 4) for q in range(4))]
        steps = [_motion(a, b) for a, b in zip(inside, inside[1:], strict=False)]
        motion += [f"{a}>{b}" for a, b in zip(steps, steps[1:], strict=False)]
    kinds = [sonority_kind(s) for s in beat_sonorities(c.analysis.piece.notes, t0, t1)]
    spacing: list[list[str]] = [[], [], []]
    bass, last = [], None
    for b in beats:
        chord = [_sounding(v, float(b)) for v in voices[:4]]
        if len(chord) < 4 or not all(chord):
            continue
        for k in range(3):
            d = max(chord[k].pitch - chord[k + 1].pitch, 0)  # type: ignore[union-attr]
            spacing[k].append(SPACINGS[min(d // 5, 3)])
        if last is not None:
            d = abs(chord[3].pitch - last) % 12  # type: ignore[union-attr]
            bass.append(str(min(d, 12 - d)))
        last = chord[3].pitch  # type: ignore[union-attr]
    pairs = [f"{a}>{b}" for a, b in zip(kinds, kinds[1:], strict=False)]
    return (shares(rhythm, [f"{p:04b}" for p in range(16)]) + shares(pairs, [f"{a}>{b}" for a in KINDS for b in KINDS])
            + shares(motion, [f"{a}>{b}" for a in MOTIONS for b in MOTIONS])
            + [v for k in range(3) for v in shares(spacing[k], SPACINGS)] + shares(bass, [str(i) for i in range(7)]))


def _excerpt_groups(pieces: Sequence[Chorale], spans_of: Callable[[Chorale, float], list[tuple[float, float]]],
                    texture: bool, bars: int) -> list[list[list[float]]]:
    """Per piece, the feature vectors (texture or style) of the stretches ``spans_of(piece, span)`` names,
    ``span`` being ``bars`` bars; voices split by pitch order."""
    from composer.harmony import split_voices

    out = []
    for c in pieces:
        voices, _ = split_voices(c.analysis.piece.notes)
        spans = spans_of(c, bars * c.bar_beats)
        if texture:
            out.append([texture_features(c, voices, t0, t1) for t0, t1 in spans])
        else:
            out.append([excerpt_features(c.analysis, voices, t0, t1) for t0, t1 in spans])
    return out


def texture_excerpts(pieces: Sequence[Chorale], bars: int = EXCERPT_BARS) -> list[list[list[float]]]:
    """``texture_features`` of each piece's consecutive ``bars``-bar excerpts, voices split by pitch order."""
    return _excerpt_groups(pieces, lambda c, span: [(k * span, (k + 1) * span) for k in range(int(c.end // span))],
                           True, bars)


def ending_excerpts(pieces: Sequence[Chorale], texture: bool = False,
                    bars: int = EXCERPT_BARS) -> list[list[list[float]]]:
    """Each piece's first and last ``bars`` bars (the last ending where the piece ends) as feature vectors.

    A generated 16-bar piece's second excerpt always holds its final cadence; a chorale cut to 16
    bars often stops mid-phrase.  These excerpts give Bach's side real endings too (pieces shorter
    than two excerpts give their first only).
    """
    return _excerpt_groups(
        pieces, lambda c, span: [(0.0, span), (c.end - span, c.end)] if c.end >= 2 * span else [(0.0, span)],
        texture, bars)


def two_sample_auc(real: Sequence[Chorale], generated: Sequence[Chorale], folds: int = 5, seed: int = 0,
                   l2: float = 1.0, top: int = 8, texture: bool = False,
                   real_groups: list[list[list[float]]] | None = None) -> dict[str, Any]:
    """Classifier two-sample test: can an L2 logistic regression tell generated excerpts from real ones?

    Each piece gives its 8-bar excerpts (``excerpt_features``); folds are by piece (a piece's
    excerpts are never split between training and test), stratified by class and seeded; the
    features are standardized on each training fold.  Returns the AUC on held-out excerpts (mean
    over folds, and pooled over all out-of-fold scores) and the most telling features: the largest
    standardized coefficients of a fit on everything (positive = points to "generated").
    ``real_groups``: the real side's feature vectors per piece, read elsewhere (e.g. from other
    stretches of the pieces, :func:`ending_excerpts`), instead of ``real``'s consecutive excerpts.
    """
    read, names = (texture_excerpts, TEXTURE_FEATURES) if texture else (excerpts, FEATURES)
    if real_groups is not None and len(real_groups) != len(real):
        raise ValueError(f"real_groups has {len(real_groups)} pieces, real {len(real)}")
    groups = (read(real) if real_groups is None else real_groups) + read(generated)
    labels = [0] * len(real) + [1] * len(generated)
    fold_of = group_folds(labels, folds, seed)
    x = np.array([f for g in groups for f in g], dtype=float)
    y = np.array([labels[i] for i, g in enumerate(groups) for _ in g], dtype=float)
    fold = np.array([fold_of[i] for i, g in enumerate(groups) for _ in g])
    scores = np.zeros(len(y))
    per_fold = []
    for k in range(folds):
        tr, te = fold != k, fold == k
        xtr, xte = _standardize(x[tr], x[te])
        w = fit_logistic(xtr, y[tr], l2)
        scores[te] = xte @ w[:-1] + w[-1]
        per_fold.append(auc(scores[te], y[te]))
    xs, _ = _standardize(x, x)
    w = fit_logistic(xs, y, l2)[:-1]
    order = np.argsort(-np.abs(w))[:top]
    return {
        "auc": round(float(np.nanmean(per_fold)), 4),
        "auc_folds": [round(a, 4) for a in per_fold],
        "auc_pooled": round(auc(scores, y), 4),
        "excerpts": {"real": int((y == 0).sum()), "generated": int((y == 1).sum())},
        "folds": folds, "seed": seed, "l2": l2,
        "top_features": [{"feature": names[i], "coef": round(float(w[i]), 3),
                          "mean_real": round(float(x[y == 0, i].mean()), 4),
                          "mean_generated": round(float(x[y == 1, i].mean()), 4)} for i in order],
    }
