"""The beat timeline of live playback: tempo maps and note events.

:class:`TempoMap` turns beats into absolute times (and back) through piecewise-constant
tempo, anchored at a start time, so deadlines computed from it never accumulate error.
:func:`note_events` turns notes into the note-on/off events a :class:`~composer.live.Player`
sends, in beat order.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from composer.events import Note

CLOCK_PPQN = 24  # MIDI clock ticks per quarter note (fixed by the MIDI spec)


class TempoMap:
    """Piecewise-constant tempo: beat <-> absolute time, anchored at a start time."""

    def __init__(self, start: float, bpm: float) -> None:
        self._beats = [0.0]  # segment start beats, increasing
        self._times = [start]  # absolute time at each segment start
        self._spb = [60.0 / bpm]  # seconds per beat in each segment

    @property
    def bpm(self) -> float:
        """Tempo of the last segment."""
        return 60.0 / self._spb[-1]

    def time_at(self, beat: float) -> float:
        """Absolute time of ``beat`` (beats before 0 extrapolate the first tempo)."""
        i = max(0, bisect.bisect_right(self._beats, beat) - 1)
        return self._times[i] + (beat - self._beats[i]) * self._spb[i]

    def beat_at(self, t: float) -> float:
        """Beat at absolute time ``t``."""
        i = max(0, bisect.bisect_right(self._times, t) - 1)
        return self._beats[i] + (t - self._times[i]) / self._spb[i]

    def change(self, beat: float, bpm: float) -> None:
        """Play at ``bpm`` from ``beat`` on (later changes are dropped)."""
        t = self.time_at(beat)
        i = bisect.bisect_left(self._beats, beat)
        del self._beats[i:], self._times[i:], self._spb[i:]
        self._beats.append(beat)
        self._times.append(t)
        self._spb.append(60.0 / bpm)
        if len(self._beats) > 64:  # clock-in changes tempo often; old segments are never asked
            del self._beats[:32], self._times[:32], self._spb[:32]


class NoteEvent(NamedTuple):
    """A note-on or note-off at a beat."""

    beat: float
    kind: int  # 0 note-off, 1 note-on (offs first at the same beat)
    pitch: int
    velocity: int


def note_events(notes: Iterable[Note], max_beats: float | None = None) -> Iterator[NoteEvent]:
    """Turn notes in non-decreasing start order into note-on/off events in beat order.

    Notes at or after ``max_beats`` are dropped and notes sounding there are
    cut at it.  Pitches and velocities are clipped to the MIDI range.
    """
    offs: list[tuple[float, int]] = []
    for n in notes:
        if max_beats is not None and n.start >= max_beats:
            break
        while offs and offs[0][0] <= n.start:
            end, pitch = heapq.heappop(offs)
            yield NoteEvent(end, 0, pitch, 0)
        pitch = min(127, max(0, int(n.pitch)))
        end = n.start + max(n.duration, 1e-3)
        if max_beats is not None:
            end = min(end, max_beats)
        yield NoteEvent(max(0.0, n.start), 1, pitch, min(127, max(1, int(n.velocity))))
        heapq.heappush(offs, (end, pitch))
    while offs:
        end, pitch = heapq.heappop(offs)
        yield NoteEvent(end, 0, pitch, 0)
