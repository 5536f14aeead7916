"""Keys with music21: the global key, local keys by window, and key names.

Keys come from music21's key finding (Aarden-Essen profiles, the default of
``Stream.analyze('key')``).  Keys are passed around by name (``"F# minor"``,
``"Bb major"``); :func:`m21_key` and :func:`m21_key_name` are the one place
that converts between those names and music21 ``Key`` objects.  music21 is
imported inside the functions.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from composer.events import Note
from composer.harmony.piece import VoicedPiece

KEY_SWITCH_MARGIN = 0.1  # a window keeps the previous key unless another fits this much better


@dataclass(frozen=True)
class KeyEstimate:
    """A key with music21's confidence figures."""

    name: str  # e.g. "F# minor", "Bb major"
    correlation: float  # correlation with the key profile, -1..1
    certainty: float  # music21 tonalCertainty(), >= 0 (larger = clearer)
    alternates: tuple[tuple[str, float], ...] = ()  # next best keys and their correlations


@dataclass(frozen=True)
class KeyRegion:
    """A stretch of bars in one local key."""

    key: str
    start_bar: int
    end_bar: int  # inclusive
    start: float  # beats
    end: float  # beats
    correlation: float


# ---------------------------------------------------------------- key names


def m21_key_name(k: Any) -> str:
    """Our name of a music21 ``Key``: ``"F# minor"``, flats as ``b`` (``"Bb major"``)."""
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"


def m21_key(key_name: str) -> Any:
    """The music21 ``Key`` of a name written by :func:`m21_key_name`."""
    from music21 import key

    tonic, _, mode = key_name.partition(" ")
    return key.Key(tonic.replace("b", "-") if len(tonic) > 1 else tonic, mode)


def short_key_name(key_name: str) -> str:
    """The key as a progression prefix: the tonic, lower case for minor (``"f#"``, ``"A"``)."""
    tonic, _, mode = key_name.partition(" ")
    return tonic.lower() if mode == "minor" else tonic


# ---------------------------------------------------------------- key finding


def key_of_notes(notes: Sequence[Note], t0: float = 0.0, t1: float = float("inf")) -> Any | None:
    """music21's key estimate of the notes sounding in ``[t0, t1)`` (durations clipped).

    music21's key-weight analysis reads only the duration-weighted pitch-class
    distribution, so the stream it gets holds one note per pitch class with
    the summed duration: the same answer as a note per note, in constant time.
    (Not :func:`composer.keys.pitch_class_histogram`: durations here are clipped
    to the window and each rounded to 4 places, as music21 quarter lengths are.)
    """
    from music21 import note, stream

    weights = [0.0] * 12
    for n in notes:
        lo, hi = max(n.start, t0), min(n.end, t1)
        if hi - lo > 1e-6:
            weights[n.pitch % 12] += round(hi - lo, 4)
    if not any(weights):
        return None
    s: Any = stream.Stream()
    for pc, ql in enumerate(weights):
        if ql > 0:
            m = note.Note(60 + pc)
            m.quarterLength = round(ql, 4)
            s.append(m)
    return s.analyze("key")


def _in_window(
    notes: Sequence[Note], starts: Sequence[float], max_dur: float, t0: float, t1: float
) -> Sequence[Note]:
    """The notes (sorted by start) that may sound in ``[t0, t1)``."""
    lo = bisect.bisect_left(starts, t0 - max_dur - 1e-6)
    hi = bisect.bisect_left(starts, t1)
    return notes[lo:hi]


def global_key(notes: Sequence[Note]) -> tuple[KeyEstimate, Any]:
    """The key of all ``notes``: our estimate and music21's ``Key``."""
    k = key_of_notes(notes)
    if k is None:  # cannot happen for a non-empty piece
        raise ValueError("no notes to find a key in")
    alts = tuple(
        (m21_key_name(a), float(a.correlationCoefficient)) for a in k.alternateInterpretations[:3]
    )
    est = KeyEstimate(
        m21_key_name(k), float(k.correlationCoefficient), float(k.tonalCertainty()), alts
    )
    return est, k


def local_keys(piece: VoicedPiece, global_key: Any, window_bars: int) -> list[KeyRegion]:
    """Key per window of ``window_bars`` bars, merged into regions; hysteresis keeps a key."""
    starts = piece.bar_starts
    if piece.first_bar == 0 and len(starts) > 1:
        starts = starts[1:]  # the pickup belongs to the first window
    edges = [0.0] + starts[window_bars::window_bars] if starts[0] > 0 else starts[::window_bars]
    edges = sorted(set(edges) | {0.0})
    if len(edges) > 1 and piece.end - edges[-1] < 0.5 * (edges[-1] - edges[-2]):
        edges.pop()  # a short tail joins the window before it
    edges.append(piece.end)
    regions: list[KeyRegion] = []
    current = m21_key_name(global_key)
    notes = piece.notes
    starts = [n.start for n in notes]
    max_dur = max((n.duration for n in notes), default=0.0)
    for t0, t1 in zip(edges, edges[1:], strict=False):
        if t1 - t0 < 1e-6:
            continue
        k = key_of_notes(_in_window(notes, starts, max_dur, t0, t1), t0, t1)
        if k is None:
            continue
        scores = {m21_key_name(k): float(k.correlationCoefficient)}
        scores.update(
            {m21_key_name(a): float(a.correlationCoefficient) for a in k.alternateInterpretations}
        )
        best = m21_key_name(k)
        if scores.get(current, -2.0) >= scores[best] - KEY_SWITCH_MARGIN:
            best = current
        current = best
        b0, _ = piece.locate(t0)
        b1, _ = piece.locate(max(t0, t1 - 1e-3))
        if regions and regions[-1].key == best:
            r = regions[-1]
            regions[-1] = KeyRegion(
                best, r.start_bar, b1, r.start, t1, round((r.correlation + scores[best]) / 2, 4)
            )
        else:
            regions.append(KeyRegion(best, b0, b1, t0, t1, round(scores[best], 4)))
    return regions


def key_at(regions: Sequence[KeyRegion], t: float, default: str) -> str:
    """The local key at beat ``t`` (``default`` when there are no regions)."""
    for r in regions:
        if r.start - 1e-6 <= t < r.end:
            return r.key
    return regions[-1].key if regions else default
