"""Descriptive figures of a piece: range, density, pitch classes, consonance (no music21).

numpy is imported inside :func:`descriptive_figures`, so importing the harmony
package stays light.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from composer.events import Note
from composer.keys import PITCH_NAMES, pitch_class_histogram, pitch_name

_BASS_CONSONANT = frozenset({0, 3, 4, 7, 8, 9})  # above the bass: no fourths, seconds, sevenths
_UPPER_CONSONANT = frozenset({0, 3, 4, 5, 7, 8, 9})  # between upper voices a fourth is fine


def is_consonant(pitches: Sequence[int]) -> bool:
    """Whether a sonority is consonant.

    Every pitch is a unison, third, fifth, sixth or octave over the bass, and
    upper pitches are also allowed a fourth between them.
    """
    ps = sorted(set(pitches))
    if len(ps) < 2:
        return True
    bass = ps[0]
    if any((p - bass) % 12 not in _BASS_CONSONANT for p in ps[1:]):
        return False
    upper = ps[1:]
    return all(
        (b - a) % 12 in _UPPER_CONSONANT for i, a in enumerate(upper) for b in upper[i + 1 :]
    )


def consonance_share(notes: Sequence[Note]) -> float:
    """Share of time (by duration) during which the sounding sonority is consonant.

    Only sonorities of two or more pitch classes count; 1.0 when there are none.
    A sweep over note starts and ends: linear in the number of notes.
    """
    events = sorted([(n.end, -1, n.pitch) for n in notes] + [(n.start, 1, n.pitch) for n in notes])
    sounding: Counter[int] = Counter()
    verdicts: dict[tuple[int, ...], bool] = {}
    good = total = 0.0
    i = 0
    while i < len(events):
        t0 = events[i][0]
        while i < len(events) and events[i][0] == t0:
            _, step, pitch = events[i]
            sounding[pitch] += step
            if not sounding[pitch]:
                del sounding[pitch]
            i += 1
        if i == len(events):
            break
        span = events[i][0] - t0
        if len({p % 12 for p in sounding}) < 2:
            continue
        ps = tuple(sorted(sounding))
        if ps not in verdicts:
            verdicts[ps] = is_consonant(ps)
        total += span
        if verdicts[ps]:
            good += span
    return good / total if total > 0 else 1.0


def descriptive_figures(notes: Sequence[Note], scale: frozenset[int]) -> dict[str, Any]:
    """Range, density, pitch-class histogram, non-diatonic and consonance shares.

    Parameters
    ----------
    notes : sequence of Note
        All notes of the piece.
    scale : frozenset of int
        Pitch classes that count as diatonic (the global key's scale).

    Returns
    -------
    dict
        JSON-ready, keys as documented in docs/analysis.md.
    """
    import numpy as np

    pitches = np.array([n.pitch for n in notes])
    span = max(n.end for n in notes) - min(n.start for n in notes)
    hist = pitch_class_histogram(notes)
    hist = hist / hist.sum() if hist.sum() > 0 else hist
    lo, hi = int(pitches.min()), int(pitches.max())
    return {
        "notes": len(notes),
        "pitch_range": {
            "lowest": lo,
            "highest": hi,
            "lowest_name": pitch_name(lo),
            "highest_name": pitch_name(hi),
            "semitones": hi - lo,
        },
        "note_density": round(len(notes) / max(span, 1e-9), 4),
        "pitch_class_histogram": {
            name: round(float(v), 4) for name, v in zip(PITCH_NAMES, hist, strict=True)
        },
        "non_diatonic_share": round(float(np.mean([p % 12 not in scale for p in pitches])), 4),
        "consonance_share": round(consonance_share(notes), 4),
    }
