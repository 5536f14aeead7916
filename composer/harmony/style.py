"""A piece's style statistics, and a logistic model of how unlike a corpus they are.

Per excerpt of :data:`EXCERPT_BARS` bars (bar lines from beat 0), every group a histogram of shares:

* the **sonority** at each quarter-note beat where something sounds (the pitch classes sounding at
  its onset): triad, seventh chord, open (one pitch class, or a bare fourth / fifth) or cluster
  (:func:`sonority_kind`), with a semitone clash or not, and its number of pitch classes;
* the **melodic intervals** between successive notes of each voice;
* the note **durations**, each in the nearest of :data:`DURATION_BINS` within
  :data:`DURATION_TOLERANCE`, else "other";
* the **pitch classes above the tonic** of the analysis's key.

``benchmarks/chorale_figures.py`` reads them for its classifier two-sample test (generated pieces
against Bach's test chorales).  :class:`StyleModel` is such a classifier fitted once, on a model's own
candidates against its *training* corpus (``benchmarks/build_style_model.py``, stored as
``style.json`` beside the weights): best-of-K selection (``composer.generation.select``) adds its
judgement to the analysis's score, so of K candidates the one most like the corpus is kept.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.errors import CheckpointError
from composer.events import Note
from composer.files import NotARegularFile, read_regular_file
from composer.harmony.voiceleading import ONSET_EPS, split_voices
from composer.keys import parse_key

if TYPE_CHECKING:
    from composer.harmony.analysis import Analysis

DURATION_BINS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)  # beats
DURATION_TOLERANCE = 0.125  # beats
KINDS = ("triad", "seventh", "open", "cluster")
EXCERPT_BARS = 8
MAX_STYLE_BYTES = 2**20  # a style.json is a few kB


def _chords(shapes: Sequence[Sequence[int]]) -> frozenset[frozenset[int]]:
    return frozenset(frozenset((r + i) % 12 for i in s) for r in range(12) for s in shapes)


TRIADS = _chords([(0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8)])
_SEVENTH_SHAPES = [(0, 4, 7, 10), (0, 3, 7, 10), (0, 3, 6, 10), (0, 3, 6, 9), (0, 4, 7, 11)]
SEVENTHS = _chords(_SEVENTH_SHAPES) | _chords([(s[0], s[1], s[3]) for s in _SEVENTH_SHAPES])


def sonority_kind(pcs: frozenset[int]) -> str:
    """``triad``, ``seventh``, ``open`` or ``cluster`` of a non-empty pitch-class set.

    A triad is major, minor, diminished or augmented (any inversion, any doubling), or exactly two
    pitch classes a third / sixth apart (an incomplete triad with its third); a seventh chord is a
    dominant, minor, half-diminished, diminished or major seventh, complete or without its fifth.
    """
    if pcs in TRIADS:
        return "triad"
    if len(pcs) == 2:
        a, b = sorted(pcs)
        ic = min(b - a, 12 - (b - a))
        return "triad" if ic in (3, 4) else "open" if ic == 5 else "cluster"
    if pcs in SEVENTHS:
        return "seventh"
    return "open" if len(pcs) == 1 else "cluster"


def has_clash(pcs: frozenset[int]) -> bool:
    """Whether two pitch classes are a semitone (or major seventh) apart."""
    return any((p + 1) % 12 in pcs for p in pcs)


def sounding_at(notes: Sequence[Note], starts: Sequence[float], t: float) -> list[Note]:
    """The notes (sorted by start, ``starts`` theirs) sounding at beat ``t``: begun by ``t + ONSET_EPS``, not ended."""
    hi = bisect.bisect_right(starts, t + ONSET_EPS)
    return [n for n in notes[:hi] if n.end > t + ONSET_EPS]


def beat_sonorities(notes: Sequence[Note], t0: float, t1: float) -> list[frozenset[int]]:
    """Pitch-class sets at the quarter-note beats in ``[t0, t1)`` where something sounds."""
    notes = sorted(notes)
    starts = [n.start for n in notes]
    out = []
    for t in range(math.ceil(t0 - 1e-9), math.ceil(t1 - 1e-9)):
        pcs = frozenset(n.pitch % 12 for n in sounding_at(notes, starts, float(t)))
        if pcs:
            out.append(pcs)
    return out


def duration_bin(d: float) -> str:
    """The nearest of :data:`DURATION_BINS` within :data:`DURATION_TOLERANCE`, else ``"other"``."""
    best = min(DURATION_BINS, key=lambda b: abs(b - d))
    return f"{best:g}" if abs(best - d) <= DURATION_TOLERANCE else "other"


_INTERVAL_BINS = [str(i) for i in range(8)] + ["8-11", "12", ">12"]
_SIZE_BINS = ["1", "2", "3", "4", "5+"]
#: The names of :func:`excerpt_features`'s entries, in order.
FEATURES = (
    [f"sonority:{k}" for k in KINDS] + ["sonority:clash"] + [f"pitch classes at beat:{s}" for s in _SIZE_BINS]
    + [f"melodic interval:{b}" for b in _INTERVAL_BINS]
    + [f"duration:{b:g}" for b in DURATION_BINS] + ["duration:other"]
    + [f"pitch class - tonic:{i}" for i in range(12)]
)


def shares(labels: Sequence[str], bins: Sequence[str]) -> list[float]:
    """The share of ``labels`` in each of ``bins`` (a histogram; labels outside the bins count in the total)."""
    c = Counter(labels)
    return [c.get(b, 0) / max(len(labels), 1) for b in bins]


def _interval_bin(semitones: int) -> str:
    s = abs(semitones)
    return str(s) if s < 8 else "8-11" if s < 12 else "12" if s == 12 else ">12"


def excerpt_features(analysis: Analysis, voices: Sequence[Sequence[Note]], t0: float, t1: float) -> list[float]:
    """The :data:`FEATURES` of the notes starting in ``[t0, t1)`` of an analysed piece (``voices``: its voices)."""
    notes = [n for n in analysis.piece.notes if t0 - 1e-9 <= n.start < t1 - 1e-9]
    sons = beat_sonorities(notes, t0, t1)
    sizes = ["5+" if len(s) >= 5 else str(len(s)) for s in sons]
    steps = [_interval_bin(b.pitch - a.pitch) for v in voices for a, b in zip(v, v[1:], strict=False)
             if t0 - 1e-9 <= a.start and b.start < t1 - 1e-9]
    tonic = parse_key(analysis.key.name) // 2
    return (shares([sonority_kind(s) for s in sons], KINDS) + [sum(map(has_clash, sons)) / max(len(sons), 1)]
            + shares(sizes, _SIZE_BINS) + shares(steps, _INTERVAL_BINS)
            + shares([duration_bin(n.duration) for n in notes], [f"{b:g}" for b in DURATION_BINS] + ["other"])
            + shares([str((n.pitch - tonic) % 12) for n in notes], [str(i) for i in range(12)]))


def piece_excerpts(analysis: Analysis, end: float, bar_beats: float, bars: int = EXCERPT_BARS) -> list[list[float]]:
    """Feature vectors of consecutive ``bars``-bar excerpts up to ``end`` (a short tail is left out).

    Melodic intervals are read from voices found by pitch order from all the notes
    (:func:`~composer.harmony.voiceleading.split_voices`), so how a file lays out its tracks does not matter.
    """
    voices, _ = split_voices(analysis.piece.notes)
    span = bars * bar_beats
    return [excerpt_features(analysis, voices, k * span, (k + 1) * span) for k in range(int(end // span))]


@dataclass(frozen=True)
class StyleModel:
    """A logistic regression over standardized :data:`FEATURES`: positive logits say "unlike the corpus"."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    meta: dict[str, Any]

    @classmethod
    def read(cls, path: str | Path) -> StyleModel:
        """Read a ``style.json`` written by :meth:`to_json`.

        Raises
        ------
        CheckpointError
            When it is unreadable or does not fit this composer's :data:`FEATURES`.
        """
        try:
            doc = json.loads(read_regular_file(path, MAX_STYLE_BYTES))
            if doc.get("features") != list(FEATURES):
                raise ValueError("its features are not this composer's")
            mean, scale, weights = (tuple(float(v) for v in doc[k]) for k in ("mean", "scale", "weights"))
            every = mean + scale + weights + (float(doc["intercept"]),)
            if not len(mean) == len(scale) == len(weights) == len(FEATURES) or not all(map(math.isfinite, every)):
                raise ValueError("mean, scale and weights need one finite number per feature")
            if min(scale) <= 0:
                raise ValueError("scales must be positive")
            return cls(mean, scale, weights, float(doc["intercept"]), dict(doc.get("meta", {})))
        except (OSError, ValueError, TypeError, KeyError, AttributeError, NotARegularFile) as exc:
            raise CheckpointError(f"{path}: not a style model ({exc})") from None
        except RecursionError:
            raise CheckpointError(f"{path}: not a style model (nested too deeply)") from None

    def to_json(self) -> str:
        """The JSON document :meth:`read` takes."""
        return json.dumps({"features": list(FEATURES), "mean": self.mean, "scale": self.scale,
                           "weights": self.weights, "intercept": self.intercept, "meta": self.meta}, indent=1) + "\n"

    def logit(self, analysis: Analysis, end: float, bar_beats: float) -> float:
        """The mean logit of the piece's excerpts (0.0 when it is shorter than one excerpt)."""
        import numpy as np

        x = piece_excerpts(analysis, end, bar_beats)
        if not x:
            return 0.0
        z = (np.asarray(x, dtype=float) - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(np.mean(z @ np.asarray(self.weights) + self.intercept))
