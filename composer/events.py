"""Plain note events shared by generation, live playback and analysis.

Times are in beats (quarter notes) so that tempo stays a playback concern.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Note:
    """One note on a beat timeline.

    Ordered by ``start`` first, so ``sorted(notes)`` gives playing order.
    """

    start: float  # beats from the start of the piece, >= 0
    pitch: int  # MIDI pitch, 0-127
    duration: float  # beats, > 0
    velocity: int = 80  # MIDI velocity, 1-127

    @property
    def end(self) -> float:
        """Beat at which the note stops sounding."""
        return self.start + self.duration


def next_bar_line(beat: float, bar_beats: float) -> float:
    """The first bar line at or after ``beat`` (bars of ``bar_beats`` beats from beat 0).

    A beat within 1e-9 of a bar line counts as on it, so float noise never adds a bar.
    """
    return math.ceil(beat / bar_beats - 1e-9) * bar_beats
