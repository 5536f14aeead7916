"""Primers: the music a continuation starts from.

A primer is a MIDI file or a typed melody:

* music21 tinyNotation: ``"tinyNotation: 4/4 c4 d e f g2 g"`` (``c4`` is
  middle C as a quarter note; music21 is imported only for this form);
* note names with durations in beats: ``"C4:1 D4:0.5 E4 r:1 G4:2^"`` (a missing
  duration repeats the previous one; ``r`` is a rest; ``^`` marks a fermata, a
  phrase end; ``4/4`` or ``3/4`` may come first).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from composer.errors import InputError, MidiError
from composer.events import Note, next_bar_line
from composer.midifile import fermata_marks, load_score, score_from_notes, track_notes

if TYPE_CHECKING:
    from symusic import Score

_NOTE_RE = re.compile(r"^([A-Ga-g])(#{1,2}|b{1,2}|-{1,2})?(-?\d)(?::(\d+(?:\.\d+)?|\d+/\d+))?(\^)?$")
_REST_RE = re.compile(r"^[rR](?::(\d+(?:\.\d+)?|\d+/\d+))?$")
_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MAX_PRIMER_NOTES = 20_000
MAX_TPQ = 32767  # the largest ticks-per-quarter a MIDI header can hold
MAX_NUMERATOR = 64  # beats per bar in a typed time signature (music21 took > 30 s on 1000/4)
_DENOMINATORS = (1, 2, 4, 8, 16, 32, 64)
_TS_RE = re.compile(r"(?<![\w/])(\d+)/(\d+)(?![\w/])")


def _usable_metre(num: int, den: int) -> bool:
    """Whether ``num/den`` is a time signature a primer may have (every primer kind checks the same)."""
    return 1 <= num <= MAX_NUMERATOR and den in _DENOMINATORS


@dataclass(frozen=True)
class PrimerTrack:
    """One pitched track of a MIDI primer."""

    name: str
    program: int  # General MIDI program, 0-127
    notes: tuple[Note, ...]


@dataclass(frozen=True)
class Primer:
    """Music to continue, on a beat timeline starting at bar 1, beat 0."""

    notes: Sequence[Note]
    time_signature: tuple[int, int] = (4, 4)
    tempo: float | None = None  # bpm, when the source says
    # A multitrack MIDI primer's own tracks (name, GM program, notes; drums left out): written
    # back as they are, since merged into one track two tracks' notes on one pitch collide.
    tracks: tuple[PrimerTrack, ...] = ()
    tpq: int = 480  # ticks per quarter of the source file, so that its notes can be written back exactly
    drum_notes: int = 0  # notes of the MIDI file's drum tracks, left out (the models write no drums)
    # Phrase ends: onsets (beats) of the notes under a fermata, from a MIDI file's ``fermata`` markers (the corpus
    # writes them from the scores) or a typed melody's marks; harmonizing writes a fermata chord there.
    fermatas: tuple[float, ...] = ()

    @property
    def write_tpq(self) -> int:
        """Ticks per quarter for an output holding this primer.

        A multiple of both its own resolution (its notes come out exact) and 480 (the model's
        grid); its own where that would exceed what a MIDI header holds.
        """
        both = math.lcm(self.tpq, 480)
        return both if both <= MAX_TPQ else self.tpq

    @property
    def bar_beats(self) -> float:
        """Quarter notes per bar."""
        return self.time_signature[0] * 4 / self.time_signature[1]

    @property
    def end(self) -> float:
        """Beat at which the last note ends."""
        return max((n.end for n in self.notes), default=0.0)

    @property
    def bars(self) -> int:
        """Bars the primer occupies (a partial last bar counts)."""
        return max(1, round(next_bar_line(self.end, self.bar_beats) / self.bar_beats))

    def to_score(self) -> Score:
        """The primer as a one-track ``symusic.Score``."""
        return score_from_notes(self.notes, time_signature=self.time_signature, tempo=self.tempo or 120.0)


#: The shortest note or rest a typed melody may hold, in beats: a 64th note.
MIN_DURATION = 1 / 16


def _duration(text: str | None, default: float) -> float:
    if text is None:
        return default
    if "/" in text:
        a, b = text.split("/")
        if float(b) == 0:
            raise InputError(f"duration {text!r} divides by zero")
        value = float(a) / float(b)
    else:
        value = float(text)
    if not math.isfinite(value):
        raise InputError(f"duration {text!r} is not a finite number")
    return value


def parse_note_names(text: str) -> Primer:
    """Parse ``"C4:1 D4:0.5 E4 r:1 G4:2^"`` (durations in beats; ``^``: a fermata) into a :class:`Primer`."""
    words = text.replace(",", " ").split()
    ts = (4, 4)
    if words and re.fullmatch(r"\d+/\d+", words[0]):
        num, den = (int(x) for x in words.pop(0).split("/"))
        if not _usable_metre(num, den):
            raise InputError(f"bad time signature {num}/{den}")
        ts = (num, den)
    t, dur, notes, fermatas = 0.0, 1.0, [], []
    for w in words:
        m, r = _NOTE_RE.match(w), _REST_RE.match(w)
        if r:
            dur = _duration(r.group(1), dur)
        elif m:
            letter, acc, octave, d, mark = m.groups()
            if mark:
                fermatas.append(t)
            dur = _duration(d, dur)
            shift = 0 if not acc else (len(acc) if acc[0] == "#" else -len(acc))
            pitch = 12 * (int(octave) + 1) + _PC[letter.upper()] + shift
            if not 0 <= pitch <= 127:
                raise InputError(f"note {w!r} is outside the MIDI range")
            notes.append(Note(t, pitch, dur, 90))
        else:
            raise InputError(
                f"cannot read {w!r} in the melody: write notes as C4, F#3:0.5, Bb4:2 (G4:2^ under a fermata) "
                "or rests as r:1"
            )
        if dur < MIN_DURATION:  # (shorter than a MIDI file's tick: it would sound at once with the next note)
            raise InputError(f"duration must be at least {MIN_DURATION:g} beats (a 64th note) in {w!r}")
        t += dur
    if not notes:
        raise InputError("the melody has no notes")
    return Primer(notes, ts, fermatas=tuple(round(f, 6) for f in fermatas))


def _check_tiny_tokens(text: str) -> None:
    """Refuse a tinyNotation token music21 would silently skip (``zz9`` in ``c4 zz9 d``)."""
    from music21 import tinyNotation

    conv = tinyNotation.Converter(text.split(":", 1)[1] if text.startswith("tinyNotation:") else text)
    conv.splitPreTokens()
    patterns = [re.compile(rx) for rx, _ in conv.tokenMap]
    states = "|".join(map(re.escape, conv.bracketStateMapping))
    for word in conv.preTokens:
        core = re.sub(rf"^(?:{states})\{{", "", word).rstrip("}") if states else word.rstrip("}")
        core = re.sub(r"_[^=\s]*", "", core)  # a lyric (c4_hi): music21 takes any text after the underscore
        if core and not any(p.match(core) for p in patterns):
            raise InputError(f"cannot read {word!r} in the tinyNotation melody: write notes as c4, f#8, b-2., "
                             "c'4 or rests as r4 (music21 tinyNotation)")


def parse_tiny_notation(text: str) -> Primer:
    """Parse music21 tinyNotation (``"tinyNotation: 4/4 c4 d e f"``) into a :class:`Primer`."""
    from music21 import converter, meter

    for num_s, den_s in _TS_RE.findall(text):  # music21 spins on a bar of 1000 beats: check first
        num, den = int(num_s), int(den_s)
        if not _usable_metre(num, den):
            raise InputError(
                f"bad time signature {num}/{den} in the tinyNotation melody (numerator 1..{MAX_NUMERATOR}, "
                "denominator 1, 2, 4, 8, 16, 32 or 64)"
            )
    _check_tiny_tokens(text)
    try:
        stream = converter.parse(text if text.startswith("tinyNotation:") else f"tinyNotation: {text}")
    except Exception as exc:  # music21 raises many kinds on bad tinyNotation
        raise InputError(f"cannot read the tinyNotation melody ({exc})") from None
    ts = (4, 4)
    sigs = list(stream.recurse().getElementsByClass(meter.TimeSignature))
    if sigs:
        ts = (int(sigs[0].numerator), int(sigs[0].denominator))
    notes = []
    for n in stream.flatten().notes:
        for p in getattr(n, "pitches", ()):
            notes.append(Note(float(n.offset), int(p.midi), float(n.quarterLength), 90))
    if not notes:
        raise InputError("the tinyNotation melody has no notes")
    return Primer(sorted(notes), ts)


def primer_from_midi(path: str | Path) -> Primer:
    """Read a MIDI file as a primer (all pitched tracks; first tempo and time signature)."""
    score = load_score(path)
    tracks = [(str(t.name), int(t.program), track_notes(t, score.tpq)) for t in score.tracks
              if not t.is_drum and len(t.notes)]
    notes = sorted(n for _, _, ns in tracks for n in ns)
    if not notes:
        raise MidiError(f"{path}: no notes to continue")
    if len(notes) > MAX_PRIMER_NOTES:
        raise MidiError(f"{path}: {len(notes)} notes is too long for a primer (limit {MAX_PRIMER_NOTES})")
    ts = score.time_signatures
    sig = (int(ts[0].numerator), int(ts[0].denominator)) if len(ts) else (4, 4)
    if not _usable_metre(*sig):
        raise MidiError(f"{path}: unusable time signature {sig[0]}/{sig[1]}")
    first = min(n.start for n in notes)
    shift = 0.0
    if first > 0:  # drop leading silence, keeping the bar grid when it is whole bars
        bar = sig[0] * 4 / sig[1]
        shift = math.floor(first / bar) * bar
        if shift:
            notes = [replace(n, start=n.start - shift) for n in notes]
            tracks = [(name, prog, [replace(n, start=n.start - shift) for n in ns]) for name, prog, ns in tracks]
    tempo = float(score.tempos[0].qpm) if len(score.tempos) else None
    kept = tuple(PrimerTrack(name, prog, tuple(sorted(ns))) for name, prog, ns in tracks) if len(tracks) > 1 else ()
    drums = sum(len(t.notes) for t in score.tracks if t.is_drum)
    fermatas = sorted({round(t - shift, 6) for t in fermata_marks(score) if t >= shift})
    return Primer(notes, sig, tempo, kept, int(score.tpq), drums, tuple(fermatas))


def parse_primer(source: str | Path | Sequence[Note]) -> Primer:
    """A primer from a MIDI path, a typed melody, or notes.

    Raises
    ------
    InputError
        With a message saying what could not be read.
    """
    if isinstance(source, Primer):
        return source
    if not isinstance(source, (str, Path)):
        notes = sorted(source)
        if not notes:
            raise InputError("the primer has no notes")
        return Primer(notes)
    text = str(source).strip()
    if not text:
        raise InputError("the primer is empty")
    path = Path(text)
    try:
        is_file = len(text) < 4096 and path.is_file()
    except OSError:  # e.g. a melody longer than a file name may be
        is_file = False
    if path.suffix.lower() in (".mid", ".midi") or is_file:
        return primer_from_midi(path)
    if text[:13].lower() == "tinynotation:":  # (music21's prefix, in any case)
        return parse_tiny_notation("tinyNotation:" + text[13:])
    return parse_note_names(text)
