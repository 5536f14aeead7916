"""Objective musical metrics of a piece, as MusPy and mgeval define them.

All take beat-timed :class:`~composer.events.Note` lists (beats = quarter notes):

* pitch-class entropy: ``-sum p(pc) log2 p(pc)`` over the 12 pitch classes
  (note counts, not durations), in bits;
* scale consistency: the largest share of notes inside one major or natural
  minor scale, over all 24;
* empty-beat rate: beats (quarter notes from 0 to the last note's end) during
  which no note sounds, divided by all beats;
* polyphony: mean number of distinct pitches sounding, over the time steps
  (1/4 beat) where at least one sounds;
* pitch range: highest minus lowest pitch, in semitones;
* note density: notes per beat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from composer.events import Note
from composer.keys import MAJOR_SCALE, NATURAL_MINOR_SCALE

STEPS_PER_BEAT = 4  # time grid of polyphony


def pitch_class_entropy(notes: Sequence[Note]) -> float:
    """Entropy of the pitch-class histogram, in bits (0 for no notes)."""
    if not notes:
        return 0.0
    counts = np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def scale_consistency(notes: Sequence[Note]) -> float:
    """Largest share of notes in one of the 24 major / natural-minor scales."""
    if not notes:
        return 0.0
    counts = np.bincount([n.pitch % 12 for n in notes], minlength=12)
    best = 0
    for tonic in range(12):
        for steps in (MAJOR_SCALE, NATURAL_MINOR_SCALE):
            best = max(best, int(sum(counts[(tonic + s) % 12] for s in steps)))
    return best / len(notes)


def empty_beat_rate(notes: Sequence[Note]) -> float:
    """Share of beats in which no note sounds."""
    if not notes:
        return 1.0
    beats = max(1, math.ceil(max(n.end for n in notes) - 1e-9))
    busy = np.zeros(beats, dtype=bool)
    for n in notes:
        busy[int(math.floor(n.start)) : max(int(math.floor(n.start)) + 1, math.ceil(n.end - 1e-9))] = True
    return float(1 - busy.mean())


def polyphony(notes: Sequence[Note]) -> float:
    """Mean number of distinct pitches sounding over the steps where any sounds."""
    if not notes:
        return 0.0
    steps = max(1, math.ceil(max(n.end for n in notes) * STEPS_PER_BEAT))
    roll = np.zeros((steps, 128), dtype=bool)
    for n in notes:
        a = int(round(n.start * STEPS_PER_BEAT))
        b = max(a + 1, int(round(n.end * STEPS_PER_BEAT)))
        roll[a:b, n.pitch] = True
    per_step = roll.sum(1)
    sounding = per_step[per_step > 0]
    return float(sounding.mean()) if len(sounding) else 0.0


def pitch_range(notes: Sequence[Note]) -> int:
    """Highest minus lowest pitch."""
    return max(n.pitch for n in notes) - min(n.pitch for n in notes) if notes else 0


def note_density(notes: Sequence[Note]) -> float:
    """Notes per beat, from 0 to the last note's end."""
    if not notes:
        return 0.0
    return len(notes) / max(1e-9, max(n.end for n in notes))


METRICS = {
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "empty_beat_rate": empty_beat_rate,
    "polyphony": polyphony,
    "pitch_range": pitch_range,
    "note_density": note_density,
}


def all_metrics(notes: Sequence[Note]) -> dict[str, float]:
    """Every metric above for one piece."""
    return {name: float(f(notes)) for name, f in METRICS.items()}


def summarize(rows: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each metric over pieces."""
    out = {}
    for name in METRICS:
        vals = np.array([r[name] for r in rows], dtype=float)
        out[name] = {"mean": float(vals.mean()) if len(vals) else 0.0, "std": float(vals.std()) if len(vals) else 0.0}
    return out
