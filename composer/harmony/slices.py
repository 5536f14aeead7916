"""Half-beat slices of a piece: pitch-class weights with the non-chord tones set aside.

The analysis reads a piece as a grid of slices, two per metric beat.  Each slice holds the
duration (in beats) for which each pitch class sounds in it, twice: ``raw`` (every note, for key
finding) and ``chordal`` (for chord labels) where the non-chord tones found in each voice weigh
less:

* passing tones (a step in and a step on in the same direction) and neighbour tones (a step away
  and back), short or off the beat;
* suspensions (a note held across a beat that then falls by a step within half a beat) and
  appoggiaturas (a leap to an accented note that then moves by a step within the beat), both
  dissonant with another voice on their beat: their weight goes to the note of resolution;
* anticipations (a short off-beat note repeated by the next note).

numpy is imported inside :func:`make_slices`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from composer.events import Note
from composer.harmony.piece import VoicedPiece

NCT_WEIGHT = 0.75  # weight left to a passing / neighbour / anticipation tone
SUSPENSION_KEEP = 0.5  # weight left to a suspension or appoggiatura (the rest goes to its resolution)
_EPS = 1e-3


@dataclass
class Slices:
    """The slice grid of a piece (``n`` slices, two per beat)."""

    starts: list[float]  # slice start (beats); slice i is [starts[i], starts[i] + lengths[i])
    lengths: list[float]
    strength: list[int]  # 3 at a bar line, 2 on a beat, 1 between beats
    raw: Any  # numpy (n, 12): duration each pitch class sounds in the slice
    chordal: Any  # numpy (n, 12): the same with the non-chord tones set aside
    bass: list[int]  # lowest pitch sounding at the slice start (-1: none)
    onset_bass: list[int]  # lowest pitch among chord tones sounding at the slice start (-1: none)
    beat_of: list[int]  # index of the beat (strength >= 2 slice) each slice belongs to

    @property
    def n(self) -> int:
        """Number of slices."""
        return len(self.starts)


def slice_grid(piece: VoicedPiece) -> tuple[list[float], list[int]]:
    """Slice starts (two per beat) and their metric strengths, up to the piece's end."""
    unit = piece.beat_unit
    starts: list[float] = []
    strength: list[int] = []
    bounds = [*piece.bar_starts, piece.end]
    for b0, b1 in zip(bounds, bounds[1:], strict=False):
        t = b0
        first = True
        while t < b1 - 1e-6:
            starts.append(round(t, 6))
            strength.append(3 if first else 2)
            if t + unit / 2 < b1 - 1e-6:
                starts.append(round(t + unit / 2, 6))
                strength.append(1)
            t += unit
            first = False
    return starts, strength


def _on_beat(t: float, unit: float, origin: float) -> bool:
    r = (t - origin) % unit
    return min(r, unit - r) < _EPS


NctMap = dict[int, tuple[float, Note | None, float]]  # id(note) -> (weight kept, to, from when)
DISSONANT = frozenset({1, 2, 5, 10, 11})  # intervals (mod 12) of 2nds, 4ths and 7ths


def _dissonant(n: Note, t: float, voices: Sequence[Sequence[Note]], starts: Sequence[Sequence[float]]) -> bool:
    """Whether ``n`` forms a 2nd, 4th or 7th with a note of another voice sounding at ``t``.

    ``starts``: the note starts of each voice (monophonic, sorted), for bisection.
    """
    for voice, vs in zip(voices, starts, strict=True):
        i = bisect.bisect_right(vs, t + _EPS) - 1
        if i < 0 or voice[i] is n or voice[i].end <= t + _EPS:
            continue
        m = voice[i]
        low, high = (m, n) if m.pitch < n.pitch else (n, m)
        if (high.pitch - low.pitch) % 12 in DISSONANT and low.pitch != high.pitch:
            return True
    return False


def nct_weights(voices: Sequence[Sequence[Note]], unit: float, origin: float) -> NctMap:
    """Non-chord tones: ``id(note) -> (weight kept, note receiving the rest or None, from when)``.

    A suspension or an appoggiatura must be dissonant (a 2nd, 4th or 7th with another voice)
    where it is accented: a chord tone held over the beat that then steps down (the 8-7 of a
    passing seventh) is no suspension.
    """
    out: NctMap = {}
    starts = [[m.start for m in voice] for voice in voices]
    for voice in voices:
        for i in range(1, len(voice) - 1):
            p, n, q = voice[i - 1], voice[i], voice[i + 1]
            if abs(p.end - n.start) > _EPS or abs(n.end - q.start) > _EPS:
                continue  # rests around: not treated
            d_in, d_out = n.pitch - p.pitch, q.pitch - n.pitch
            accented = _on_beat(n.start, unit, origin)
            short = n.duration <= unit / 2 + _EPS
            if 1 <= abs(d_in) <= 2 and 1 <= abs(d_out) <= 2 and (not accented or short):
                if (d_in > 0) == (d_out > 0) or d_out == -d_in:  # passing or neighbour
                    out[id(n)] = (NCT_WEIGHT, None, n.start)
                    continue
            if d_out == 0 and not accented and short:  # anticipation
                out[id(n)] = (NCT_WEIGHT, q, n.start)
                continue
            if not 1 <= -d_out <= 2:
                continue  # suspensions and appoggiaturas resolve down by a step
            b = origin + ((n.start - origin + _EPS) // unit + 1) * unit  # the next beat
            if b < n.end - _EPS and n.end - b <= unit / 2 + _EPS:
                # suspension: held across a beat, dissonant there, falls within half a beat after it
                if _dissonant(n, b, voices, starts):
                    out[id(n)] = (SUSPENSION_KEEP, q, b)
            elif accented and abs(d_in) > 2 and short and _dissonant(n, n.start, voices, starts):
                out[id(n)] = (SUSPENSION_KEEP, q, n.start)  # appoggiatura: leapt to, on the beat
    return out


def make_slices(piece: VoicedPiece) -> Slices:
    """The slices of ``piece`` (see the module docstring)."""
    import numpy as np

    starts, strength = slice_grid(piece)
    n = len(starts)
    ends = [*starts[1:], max(piece.end, starts[-1] + 1e-3)] if n else []
    lengths = [e - s for s, e in zip(starts, ends, strict=True)]
    raw = np.zeros((n, 12))
    chordal = np.zeros((n, 12))
    unit = piece.beat_unit
    origin = piece.bar_starts[1] if piece.first_bar == 0 and len(piece.bar_starts) > 1 else 0.0
    nct = nct_weights(piece.voices, unit, origin) if len(piece.voices) > 1 else {}
    in_voice = {id(m) for v in piece.voices for m in v}
    notes = [m for v in piece.voices for m in v] if in_voice else list(piece.notes)

    def spread(m: Note, pc: int, w: float, target: Any, t0: float | None = None) -> None:
        lo = m.start if t0 is None else t0
        i = max(0, bisect.bisect_right(starts, lo + 1e-6) - 1)
        while i < n and starts[i] < m.end - 1e-6:
            overlap = min(m.end, ends[i]) - max(lo, starts[i])
            if overlap > 0:
                target[i, pc] += w * overlap
            i += 1

    for m in piece.notes:  # every note for keys (also those left out of the voices)
        spread(m, m.pitch % 12, 1.0, raw)
    for m in notes:
        keep, to, since = nct.get(id(m), (1.0, None, m.start))
        if since > m.start + _EPS:  # a suspension: a chord tone until the beat it is held across
            spread(Note(m.start, m.pitch, since - m.start), m.pitch % 12, 1.0, chordal)
        spread(m, m.pitch % 12, keep, chordal, since)
        if to is not None and keep < 1.0:
            spread(m, to.pitch % 12, 1.0 - keep, chordal, since)
    bass: list[int] = []
    onset_bass: list[int] = []
    by_start = sorted(piece.notes)
    note_starts = [m.start for m in by_start]
    max_dur = max((m.duration for m in by_start), default=0.0)
    for t in starts:
        lo = bisect.bisect_left(note_starts, t - max_dur - 1e-6)
        hi = bisect.bisect_right(note_starts, t + _EPS)
        sounding = [m for m in by_start[lo:hi] if m.end > t + _EPS]
        bass.append(min((m.pitch for m in sounding), default=-1))
        chord_tones = [
            m.pitch for m in sounding if nct.get(id(m), (1.0, None, 0.0))[0] >= 1.0 or t < nct[id(m)][2] - _EPS
        ]
        onset_bass.append(min(chord_tones, default=bass[-1]))
    beat_of: list[int] = []
    current = 0
    for i, s in enumerate(strength):
        if s >= 2:
            current = i
        beat_of.append(current)
    return Slices(starts, lengths, strength, raw, chordal, bass, onset_bass, beat_of)
