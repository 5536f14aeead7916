"""Reading pieces for analysis: MIDI, MusicXML, ABC and Humdrum into voices plus a bar grid.

A :class:`VoicedPiece` is what the analysis works on: voices of beat-timed notes plus
the bar grid.  MIDI files go through :func:`composer.midifile.load_score` (the
untrusted-file checks); MusicXML, ABC and Humdrum/kern go through music21.
music21 is imported inside the functions that need it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from composer.errors import InputError, MidiError
from composer.events import Note
from composer.harmony.voiceleading import separate_voices
from composer.midifile import MAX_FILE_BYTES, fermata_marks, load_score, pitched_notes

SCORE_SUFFIXES = (".xml", ".musicxml", ".mxl", ".abc", ".krn")


@dataclass
class VoicedPiece:
    """Voices and bar grid of one piece, ready for analysis."""

    name: str  # file name or "<notes>"
    notes: list[Note]  # every pitched note, sorted
    voices: list[list[Note]]  # monophonic voices, highest first
    bar_starts: list[float]  # beat (quarter note) at which each bar starts
    first_bar: int = 1  # number of the first bar (0 when it is a pickup)
    numerator: int = 4  # time signature of the first bar
    denominator: int = 4
    fermatas: list[float] = field(default_factory=list)  # onsets (beats) of fermata notes
    dropped: int = 0  # notes left out of the voices
    voice_mode: str = "tracks"  # "tracks" (one per track/part) or "split" (by pitch)

    @property
    def end(self) -> float:
        """Beat at which the last note ends."""
        return max((n.end for n in self.notes), default=0.0)

    @property
    def beat_unit(self) -> float:
        """Length of one metric beat in quarter notes (dotted quarter in 6/8)."""
        if self.denominator == 8 and self.numerator % 3 == 0 and self.numerator > 3:
            return 1.5
        return 4.0 / self.denominator

    def locate(self, t: float) -> tuple[int, float]:
        """``(bar number, 1-based beat within the bar in quarter notes)`` of beat ``t``."""
        i = max(0, bisect.bisect_right(self.bar_starts, t + 1e-6) - 1)
        return self.first_bar + i, round(t - self.bar_starts[i] + 1, 4)


def bar_grid(
    end: float, time_signatures: Sequence[tuple[float, int, int]], pickup: float = 0.0
) -> list[float]:
    """Bar starts (beats) up to ``end`` from ``(beat, numerator, denominator)`` changes."""
    changes = sorted(time_signatures) or [(0.0, 4, 4)]
    starts = [0.0]
    t = pickup if pickup > 0 else 0.0
    if pickup > 0:
        starts.append(t)
    at = [c[0] for c in changes]
    while True:
        i = max(0, bisect.bisect_right(at, t + 1e-6) - 1)
        _, num, den = changes[i]
        t += max(num * 4.0 / den, 0.25)
        if t >= end - 1e-6:
            break
        starts.append(t)
    return starts


def guess_pickup(notes: Sequence[Note], numerator: int, denominator: int) -> float:
    """Guess the length of an anacrusis (beats) from where the note durations fall.

    Each whole-beat shift ``p`` of the bar grid is scored by the note duration
    starting on downbeats plus half of that starting on half bars (even
    meters); in even meters the best shift is taken modulo half a bar.  A
    pickup must beat the unshifted grid, so ties keep ``p = 0``.  (On 194
    four-part Bach chorales in 4/4 from the music21 corpus this recovers the
    notated pickup in 187.)
    """
    bar = numerator * 4.0 / denominator
    unit = 4.0 / denominator
    if not notes or bar <= unit:
        return 0.0
    half = bar / 2 if numerator % 2 == 0 else None

    def on_grid(t: float, period: float) -> bool:
        r = t % period
        return min(r, period - r) < 1e-3

    def weight(p: float) -> float:
        full = sum(n.duration for n in notes if on_grid(n.start - p, bar))
        halves = sum(n.duration for n in notes if half and on_grid(n.start - p, half))
        return full + 0.5 * halves

    candidates = [k * unit for k in range(round(bar / unit))]
    scores = {p: weight(p) for p in candidates}
    best = max(candidates, key=lambda p: scores[p])
    base = max(scores[0.0], scores.get(half, 0.0)) if half else scores[0.0]
    if best == 0.0 or scores[best] <= base:
        return 0.0
    return best % half if half else best


def piece_from_notes(
    tracks: Sequence[Sequence[Note]],
    *,
    name: str = "<notes>",
    time_signatures: Sequence[tuple[float, int, int]] = ((0.0, 4, 4),),
    pickup: float | None = 0.0,
    fermatas: Sequence[float] = (),
    first_bar: int | None = None,
    bar_starts: Sequence[float] | None = None,
) -> VoicedPiece:
    """Build a :class:`VoicedPiece` from note tracks (one track of chords is split into voices).

    ``pickup=None`` guesses an anacrusis with :func:`guess_pickup`.
    """
    notes = sorted(n for t in tracks for n in t)
    if not notes:
        raise InputError(f"{name}: no pitched notes to analyze")
    voices, dropped = separate_voices(tracks)
    sigs = sorted(time_signatures) or [(0.0, 4, 4)]
    num, den = sigs[0][1], sigs[0][2]
    if pickup is None:
        pickup = guess_pickup(notes, num, den)
    end = max(n.end for n in notes)
    if bar_starts is None:
        bar_starts = bar_grid(end, sigs, pickup)
    if first_bar is None:
        first_bar = 0 if pickup else 1
    nonempty = [t for t in tracks if t]
    mode = "tracks" if len(voices) == len(nonempty) and len(nonempty) > 1 else "split"
    return VoicedPiece(
        name, notes, voices, list(bar_starts), first_bar, num, den, list(fermatas), dropped, mode
    )


def _load_midi(path: Path) -> VoicedPiece:
    score: Any = load_score(path)
    tpq = float(score.tpq)
    tracks = []
    for track in score.tracks:
        if track.is_drum or not len(track.notes):
            continue
        sub = score.copy()
        sub.tracks = [track]
        tracks.append(pitched_notes(sub))
    sigs = [(ts.time / tpq, int(ts.numerator), int(ts.denominator)) for ts in score.time_signatures]
    sigs = [s for s in sigs if s[1] > 0 and s[2] > 0] or [(0.0, 4, 4)]
    if not any(tracks):
        raise MidiError(f"{path}: no pitched notes (empty or drums only)")
    onsets = {round(n.start, 6) for t in tracks for n in t}
    # fermata markers (composer's four-voice files, the corpora's renderings) at a chord's onset
    fermatas = sorted({round(t, 6) for t in fermata_marks(score)} & onsets)
    return piece_from_notes(tracks, name=str(path), time_signatures=sigs, pickup=None, fermatas=fermatas)


def _load_music21(path: Path) -> VoicedPiece:
    from music21 import converter, expressions, stream

    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path}: {size} bytes is over the limit of {MAX_FILE_BYTES}")
    try:
        parsed = converter.parse(str(path))
    except Exception as exc:  # music21 raises many kinds for malformed files
        raise InputError(f"{path}: cannot read as a score ({type(exc).__name__}: {exc})") from None
    parts = list(parsed.parts) if isinstance(parsed, stream.Score) else [parsed]
    tracks: list[list[Note]] = []
    fermatas: set[float] = set()
    for part in parts:
        line = []
        for n in part.stripTies().flatten().notes:
            dur = float(n.quarterLength)
            if dur <= 0:
                continue  # grace notes
            t = float(n.getOffsetInHierarchy(part)) if n.activeSite is not part else float(n.offset)
            for p in n.pitches:
                line.append(Note(t, int(p.midi), dur, 80))
            if any(isinstance(e, expressions.Fermata) for e in n.expressions):
                fermatas.add(round(t, 6))
        tracks.append(line)
    measures = list(parts[0].getElementsByClass(stream.Measure)) if parts else []
    sigs = (
        [
            (float(ts.getOffsetInHierarchy(parts[0])), int(ts.numerator), int(ts.denominator))
            for ts in parts[0].recurse().getElementsByClass("TimeSignature")
        ]
        if parts
        else []
    )
    if measures:
        starts = [float(m.offset) for m in measures]
        first = int(measures[0].number)
        return piece_from_notes(
            tracks,
            name=str(path),
            time_signatures=sigs or [(0.0, 4, 4)],
            fermatas=sorted(fermatas),
            bar_starts=starts,
            first_bar=first,
        )
    return piece_from_notes(
        tracks, name=str(path), time_signatures=sigs or [(0.0, 4, 4)], fermatas=sorted(fermatas)
    )


def load_piece(path: str | Path) -> VoicedPiece:
    """Read a MIDI, MusicXML, ABC or Humdrum file into a :class:`VoicedPiece`.

    Raises
    ------
    MidiError
        For a missing, empty, corrupt or over-limit MIDI file.
    InputError
        For another file music21 cannot read, or one without pitched notes.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a music file")
    suffix = path.suffix.lower()
    if suffix in (".mid", ".midi"):
        return _load_midi(path)
    if suffix in SCORE_SUFFIXES:
        return _load_music21(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if head == b"MThd" or not head:
        return _load_midi(path)
    raise InputError(
        f"{path}: unknown format {suffix or '(no suffix)'}; use MIDI (.mid), MusicXML (.xml, "
        ".musicxml, .mxl), ABC (.abc) or Humdrum (.krn)"
    )
