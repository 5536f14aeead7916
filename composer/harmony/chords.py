"""Chords by beat: the sounding pitches at every beat, spelled and labeled in the local key.

Chords are taken at every beat from the sounding notes (like ``chordify``) and
labeled with ``roman.romanNumeralFromChord`` in the local key.  music21 is
imported inside the functions.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from composer.events import Note
from composer.harmony.keyfinding import KeyRegion, key_at, m21_key, short_key_name
from composer.harmony.piece import VoicedPiece
from composer.harmony.voiceleading import ONSET_EPS


@dataclass(frozen=True)
class ChordLabel:
    """The chord sounding at one beat."""

    offset: float  # beats from the start
    bar: int
    beat: float  # 1-based, in quarter notes within the bar
    pitches: tuple[int, ...]  # MIDI pitches, low to high
    symbol: str  # e.g. "F#m", "C#7"
    roman: str  # Roman numeral figure in the local key, e.g. "V65"
    key: str  # local key


class RomanLabel(NamedTuple):
    """A chord's Roman numeral and chord symbol, with the facts cadences need."""

    figure: str
    symbol: str
    root_pc: int
    bass_pc: int
    third: int  # semitones from root to the chord's third (3, 4) or 0 if none


@functools.lru_cache(maxsize=4096)
def _spelling(key_name: str) -> dict[int, str]:
    """Pitch-class -> note name for ``key_name`` (scale degrees, then usual chromatic forms)."""
    from music21 import pitch

    k = m21_key(key_name)
    out = {p.pitchClass: p.name for p in k.pitches}
    minor = k.mode == "minor"
    # chromatic degrees: (degree, +1 raise / -1 lower), in order of preference
    wanted = (
        [(6, 1), (7, 1), (3, 1), (4, 1), (2, -1), (1, 1)]
        if minor
        else [(4, 1), (1, 1), (5, 1), (7, -1), (3, -1), (6, -1), (2, 1), (2, -1)]
    )
    for degree, step in wanted:
        p = pitch.Pitch(k.pitchFromDegree(degree).name)
        p = p.transpose("A1" if step > 0 else "-A1")
        out.setdefault(p.pitchClass, p.name)
    for pc in range(12):  # anything left: music21's default spelling
        out.setdefault(pc, pitch.Pitch(pc).name)
    return out


@functools.lru_cache(maxsize=64)
def tonic_pc(key_name: str) -> int:
    """Pitch class of the tonic of ``key_name``."""
    return int(m21_key(key_name).tonic.pitchClass)


def label_chord(pitches: tuple[int, ...], key_name: str) -> RomanLabel:
    """Roman numeral of a chord (MIDI pitches) in a key, with the facts cadences need.

    The numeral depends only on the chord's pitch classes and bass relative to
    the tonic, so labels are computed once in C and cached: a piece, however
    long, needs at most a few thousand music21 calls.  The label is therefore
    independent of voicing; for tertian chords it is music21's, while for
    clusters whose root music21 guesses from the note order (it breaks ties by
    voicing) the root may differ from a voicing-specific call.
    """
    tonic = tonic_pc(key_name)
    mode = key_name.partition(" ")[2]
    bass = min(pitches) % 12
    rel_pcs = tuple(sorted({(m - tonic) % 12 for m in pitches}))
    figure, root_rel, quality, third = _label_in_c(rel_pcs, (bass - tonic) % 12, mode)
    root_pc = (root_rel + tonic) % 12
    symbol = _spelling(key_name)[root_pc].replace("-", "b") + quality
    return RomanLabel(figure, symbol, root_pc, bass, third)


@functools.cache  # bounded: 2 modes x 4096 pitch-class sets x 12 basses
def _label_in_c(rel_pcs: tuple[int, ...], rel_bass: int, mode: str) -> tuple[str, int, str, int]:
    """(figure, root pc, quality + seventh suffix, third) of a chord in C ``mode``."""
    from music21 import chord, pitch, roman

    key_name = f"C {mode}"
    spell = _spelling(key_name)
    ps = []
    for m in [48 + rel_bass] + [60 + pc for pc in rel_pcs if pc != rel_bass]:
        p = pitch.Pitch(spell[m % 12])
        p.octave = 4
        p.octave += (m - int(p.midi)) // 12
        ps.append(p)
    c = chord.Chord(ps)
    rn = roman.romanNumeralFromChord(c, m21_key(key_name))
    root = c.root()
    pcs = set(rel_pcs)
    third = next((i for i in (4, 3) if (root.pitchClass + i) % 12 in pcs), 0)
    quality = {"major": "", "minor": "m", "diminished": "dim", "augmented": "aug"}.get(
        c.quality, ""
    )
    seventh = "7" if c.seventh is not None and len(pcs) >= 4 else ""
    return rn.figure, int(root.pitchClass), quality + seventh, third


def sounding_pitches(
    notes: Sequence[Note], starts: Sequence[float], max_dur: float, t: float
) -> tuple[int, ...]:
    """The pitches (low to high) of ``notes`` (sorted, with their ``starts``) sounding at ``t``."""
    lo = bisect.bisect_left(starts, t - max_dur - 1e-6)
    hi = bisect.bisect_right(starts, t + ONSET_EPS)
    return tuple(sorted({n.pitch for n in notes[lo:hi] if n.end > t + ONSET_EPS}))


def _beat_grid(piece: VoicedPiece) -> list[float]:
    unit = piece.beat_unit
    grid = []
    bounds = piece.bar_starts + [piece.end]
    for b0, b1 in zip(bounds, bounds[1:], strict=False):
        t = b0
        while t < b1 - 1e-6:
            grid.append(round(t, 6))
            t += unit
    return grid


def beat_chords(
    piece: VoicedPiece, regions: Sequence[KeyRegion], default_key: str
) -> list[ChordLabel]:
    """The labeled chord at every beat where something sounds, each in its local key."""
    notes = piece.notes
    starts = [n.start for n in notes]
    max_dur = max(n.duration for n in notes)
    out = []
    for t in _beat_grid(piece):
        ps = sounding_pitches(notes, starts, max_dur, t)
        if not ps:
            continue
        k = key_at(regions, t, default_key)
        lab = label_chord(ps, k)
        bar, beat = piece.locate(t)
        out.append(ChordLabel(t, bar, beat, ps, lab.symbol, lab.figure, k))
    return out


def progression_line(chords: Sequence[ChordLabel]) -> str:
    """Compact progression: repeated numerals collapsed, key named where it changes."""
    words: list[str] = []
    last: tuple[str, str] | None = None
    for c in chords:
        if last is not None and (c.roman, c.key) == last:
            continue
        if last is None or c.key != last[1]:
            words.append(f"{short_key_name(c.key)}:")
        words.append(c.roman)
        last = (c.roman, c.key)
    return " ".join(words)
