"""Harmonic analysis with music21: keys, Roman numerals, cadences, voice leading.

Entry points: :func:`analyze_file` (MIDI, MusicXML, ABC, kern),
:func:`analyze_notes` (notes from the generator, no file) and
:func:`analysis_score` (one number in [0, 1] for best-of-K selection).
Keys come from music21's key finding (Aarden-Essen profiles, the default of
``Stream.analyze('key')``); chords are taken at every beat from the sounding
notes (like ``chordify``) and labeled with ``roman.romanNumeralFromChord`` in
the local key.  music21 is imported inside the functions.
"""

from __future__ import annotations

import bisect
import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from composer.events import Note
from composer.harmony_io import Piece, load_piece, piece_from_notes, write_roman
from composer.keys import MAJOR_SCALE, MINOR_ALL_FORMS
from composer.voiceleading import (
    FAULT_KINDS,
    ONSET_EPS,
    VoiceFault,
    check_voice_leading,
    voice_names,
)

__all__ = [
    "SCHEMA_VERSION",
    "Analysis",
    "analysis_score",
    "analyze_file",
    "analyze_notes",
    "analyze_piece",
    "write_roman",
]

SCHEMA_VERSION = 1
WINDOW_BARS = 4  # bars per local-key window
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


@dataclass(frozen=True)
class Cadence:
    """A cadence at a phrase end."""

    kind: str  # "authentic", "half", "plagal" or "deceptive"
    subtype: str | None  # "perfect" / "imperfect" for authentic, else None
    bar: int
    beat: float
    offset: float
    key: str
    progression: str  # e.g. "V7 i"
    phrase_end: str  # why this is a phrase end: "fermata", "long_note", "rest", "final"


@dataclass(frozen=True)
class VoicesInfo:
    """How the voices were found."""

    count: int
    names: tuple[str, ...]
    mode: str  # "tracks" or "split"
    notes_per_voice: tuple[int, ...]
    dropped_notes: int  # notes left out of the voices (thicker chords)


@dataclass
class Analysis:
    """Everything ``composer analyze`` reports on one piece (see docs/analysis.md)."""

    source: str
    duration_beats: float
    bars: int
    time_signature: str
    key: KeyEstimate
    local_keys: list[KeyRegion]
    chords: list[ChordLabel]
    progression: str
    cadences: list[Cadence]
    voices: VoicesInfo
    faults: list[VoiceFault]
    figures: dict[str, Any]
    piece: Piece = field(repr=False)

    @property
    def fault_counts(self) -> dict[str, int]:
        """Number of faults of each kind."""
        c = Counter(f.kind for f in self.faults)
        return {k: c.get(k, 0) for k in FAULT_KINDS}

    @property
    def faults_per_100_beats(self) -> float:
        """All voice-leading faults per 100 beats (quarter notes)."""
        return 100.0 * len(self.faults) / max(self.duration_beats, 1e-9)

    @property
    def final_cadence(self) -> Cadence | None:
        """The cadence at the final chord, if any."""
        return next((c for c in self.cadences if c.phrase_end == "final"), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, schema in docs/analysis.md."""
        per100 = 100.0 / max(self.duration_beats, 1e-9)
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "duration_beats": round(self.duration_beats, 4),
            "bars": self.bars,
            "time_signature": self.time_signature,
            "key": {
                "name": self.key.name,
                "correlation": round(self.key.correlation, 4),
                "certainty": round(self.key.certainty, 4),
                "alternates": [
                    {"name": n, "correlation": round(r, 4)} for n, r in self.key.alternates
                ],
            },
            "local_keys": [asdict(r) for r in self.local_keys],
            "modulations": [
                {"bar": b.start_bar, "offset": b.start, "from": a.key, "to": b.key}
                for a, b in zip(self.local_keys, self.local_keys[1:], strict=False)
            ],
            "chords": [{**asdict(c), "pitches": list(c.pitches)} for c in self.chords],
            "progression": self.progression,
            "cadences": [asdict(c) for c in self.cadences],
            "voices": {
                **asdict(self.voices),
                "names": list(self.voices.names),
                "notes_per_voice": list(self.voices.notes_per_voice),
            },
            "voice_leading": {
                "counts": self.fault_counts,
                "total": len(self.faults),
                "per_100_beats": round(len(self.faults) * per100, 3),
                "per_100_beats_by_kind": {
                    k: round(v * per100, 3) for k, v in self.fault_counts.items()
                },
                "faults": [f.to_dict() for f in self.faults],
            },
            "figures": self.figures,
            "quality_score": round(analysis_score(self), 4),
        }


class _Label(NamedTuple):
    figure: str
    symbol: str
    root_pc: int
    bass_pc: int
    third: int  # semitones from root to the chord's third (3, 4) or 0 if none


# ---------------------------------------------------------------- keys


def _key_name(k: Any) -> str:
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"


def _m21_key(key_name: str) -> Any:
    from music21 import key

    tonic, _, mode = key_name.partition(" ")
    return key.Key(tonic.replace("b", "-") if len(tonic) > 1 else tonic, mode)


def _find_key(notes: Sequence[Note], t0: float = 0.0, t1: float = float("inf")) -> Any | None:
    """music21's key estimate of the notes sounding in ``[t0, t1)`` (durations clipped).

    music21's key-weight analysis reads only the duration-weighted pitch-class
    distribution, so the stream it gets holds one note per pitch class with
    the summed duration: the same answer as a note per note, in constant time.
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


def _global_key(notes: Sequence[Note]) -> tuple[KeyEstimate, Any]:
    k = _find_key(notes)
    if k is None:  # cannot happen for a non-empty piece
        raise ValueError("no notes to find a key in")
    alts = tuple(
        (_key_name(a), float(a.correlationCoefficient)) for a in k.alternateInterpretations[:3]
    )
    est = KeyEstimate(
        _key_name(k), float(k.correlationCoefficient), float(k.tonalCertainty()), alts
    )
    return est, k


def _local_keys(piece: Piece, global_key: Any, window_bars: int) -> list[KeyRegion]:
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
    current = _key_name(global_key)
    notes = piece.notes
    starts = [n.start for n in notes]
    max_dur = max((n.duration for n in notes), default=0.0)
    for t0, t1 in zip(edges, edges[1:], strict=False):
        if t1 - t0 < 1e-6:
            continue
        k = _find_key(_in_window(notes, starts, max_dur, t0, t1), t0, t1)
        if k is None:
            continue
        scores = {_key_name(k): float(k.correlationCoefficient)}
        scores.update(
            {_key_name(a): float(a.correlationCoefficient) for a in k.alternateInterpretations}
        )
        best = _key_name(k)
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


def _key_at(regions: Sequence[KeyRegion], t: float, default: str) -> str:
    for r in regions:
        if r.start - 1e-6 <= t < r.end:
            return r.key
    return regions[-1].key if regions else default


# ---------------------------------------------------------------- chords


@functools.lru_cache(maxsize=4096)
def _spelling(key_name: str) -> dict[int, str]:
    """Pitch-class -> note name for ``key_name`` (scale degrees, then usual chromatic forms)."""
    from music21 import pitch

    k = _m21_key(key_name)
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
def _tonic_pc(key_name: str) -> int:
    return int(_m21_key(key_name).tonic.pitchClass)


def _label(pitches: tuple[int, ...], key_name: str) -> _Label:
    """Roman numeral of a chord (MIDI pitches) in a key, with the facts cadences need.

    The numeral depends only on the chord's pitch classes and bass relative to
    the tonic, so labels are computed once in C and cached: a piece, however
    long, needs at most a few thousand music21 calls.  The label is therefore
    independent of voicing; for tertian chords it is music21's, while for
    clusters whose root music21 guesses from the note order (it breaks ties by
    voicing) the root may differ from a voicing-specific call.
    """
    tonic = _tonic_pc(key_name)
    mode = key_name.partition(" ")[2]
    bass = min(pitches) % 12
    rel_pcs = tuple(sorted({(m - tonic) % 12 for m in pitches}))
    figure, root_rel, quality, third = _label_in_c(rel_pcs, (bass - tonic) % 12, mode)
    root_pc = (root_rel + tonic) % 12
    symbol = _spelling(key_name)[root_pc].replace("-", "b") + quality
    return _Label(figure, symbol, root_pc, bass, third)


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
    rn = roman.romanNumeralFromChord(c, _m21_key(key_name))
    root = c.root()
    pcs = set(rel_pcs)
    third = next((i for i in (4, 3) if (root.pitchClass + i) % 12 in pcs), 0)
    quality = {"major": "", "minor": "m", "diminished": "dim", "augmented": "aug"}.get(
        c.quality, ""
    )
    seventh = "7" if c.seventh is not None and len(pcs) >= 4 else ""
    return rn.figure, int(root.pitchClass), quality + seventh, third


def _sounding(
    notes: Sequence[Note], starts: Sequence[float], max_dur: float, t: float
) -> tuple[int, ...]:
    lo = bisect.bisect_left(starts, t - max_dur - 1e-6)
    hi = bisect.bisect_right(starts, t + ONSET_EPS)
    return tuple(sorted({n.pitch for n in notes[lo:hi] if n.end > t + ONSET_EPS}))


def _beat_grid(piece: Piece) -> list[float]:
    unit = piece.beat_unit
    grid = []
    bounds = piece.bar_starts + [piece.end]
    for b0, b1 in zip(bounds, bounds[1:], strict=False):
        t = b0
        while t < b1 - 1e-6:
            grid.append(round(t, 6))
            t += unit
    return grid


def _chords(piece: Piece, regions: Sequence[KeyRegion], default_key: str) -> list[ChordLabel]:
    notes = piece.notes
    starts = [n.start for n in notes]
    max_dur = max(n.duration for n in notes)
    out = []
    for t in _beat_grid(piece):
        ps = _sounding(notes, starts, max_dur, t)
        if not ps:
            continue
        k = _key_at(regions, t, default_key)
        lab = _label(ps, k)
        bar, beat = piece.locate(t)
        out.append(ChordLabel(t, bar, beat, ps, lab.symbol, lab.figure, k))
    return out


def _progression(chords: Sequence[ChordLabel]) -> str:
    """Compact progression: repeated numerals collapsed, key named where it changes."""
    words: list[str] = []
    last: tuple[str, str] | None = None
    for c in chords:
        if last is not None and (c.roman, c.key) == last:
            continue
        if last is None or c.key != last[1]:
            tonic, _, mode = c.key.partition(" ")
            words.append(f"{tonic.lower() if mode == 'minor' else tonic}:")
        words.append(c.roman)
        last = (c.roman, c.key)
    return " ".join(words)


# ---------------------------------------------------------------- figures


def _figures(piece: Piece, key_name: str) -> dict[str, Any]:
    from composer.harmony_figures import descriptive_figures

    k = _m21_key(key_name)
    tonic = k.tonic.pitchClass
    steps = MINOR_ALL_FORMS if k.mode == "minor" else MAJOR_SCALE
    return descriptive_figures(piece.notes, frozenset((tonic + s) % 12 for s in steps))


# ---------------------------------------------------------------- public API


def analyze_piece(piece: Piece, *, window_bars: int = WINDOW_BARS) -> Analysis:
    """Analyze a :class:`~composer.harmony_io.Piece` (voices plus bar grid).

    Parameters
    ----------
    piece : Piece
        From :func:`~composer.harmony_io.load_piece` or
        :func:`~composer.harmony_io.piece_from_notes`.
    window_bars : int
        Bars per local-key window (>= 1).

    Returns
    -------
    Analysis
    """
    if window_bars < 1:
        raise ValueError(f"window_bars must be >= 1, got {window_bars}")
    key_est, m21key = _global_key(piece.notes)
    regions = _local_keys(piece, m21key, window_bars)
    chords = _chords(piece, regions, key_est.name)
    from composer.harmony_cadence import find_cadences

    cadences = find_cadences(piece, chords, regions, key_est.name)
    faults = check_voice_leading(piece.voices, piece.locate)
    names = tuple(voice_names(len(piece.voices)))
    voices = VoicesInfo(
        len(piece.voices),
        names,
        piece.voice_mode,
        tuple(len(v) for v in piece.voices),
        piece.dropped,
    )
    start = min(n.start for n in piece.notes)
    return Analysis(
        source=piece.name,
        duration_beats=round(piece.end - min(start, 0.0), 4),
        bars=piece.locate(max(piece.end - 1e-3, 0.0))[0] - piece.first_bar + 1,
        time_signature=f"{piece.numerator}/{piece.denominator}",
        key=key_est,
        local_keys=regions,
        chords=chords,
        progression=_progression(chords),
        cadences=cadences,
        voices=voices,
        faults=faults,
        figures=_figures(piece, key_est.name),
        piece=piece,
    )


def analyze_file(path: str | Path, *, window_bars: int = WINDOW_BARS) -> Analysis:
    """Analyze a MIDI, MusicXML, ABC or Humdrum (kern) file.

    Parameters
    ----------
    path : str or Path
        The file. MIDI goes through the untrusted-file checks of
        :func:`composer.midifile.load_score`; one track of chords is split
        into voices by pitch, several monophonic tracks are the voices.
    window_bars : int
        Bars per local-key window.

    Returns
    -------
    Analysis

    Raises
    ------
    MidiError
        For a missing, empty, corrupt or over-limit MIDI file.
    InputError
        For any other unreadable file, or one without pitched notes.
    """
    return analyze_piece(load_piece(path), window_bars=window_bars)


def analyze_notes(
    notes: Sequence[Note] | Sequence[Sequence[Note]],
    *,
    time_signature: tuple[int, int] = (4, 4),
    pickup: float = 0.0,
    window_bars: int = WINDOW_BARS,
    name: str = "<notes>",
) -> Analysis:
    """Analyze notes without a file (e.g. the generator's own output).

    Parameters
    ----------
    notes : sequence of Note, or sequence of sequences of Note
        One flat list (split into voices by pitch, as a one-track MIDI file)
        or one list per voice/track.
    time_signature : (int, int)
        Numerator and denominator.
    pickup : float
        Length of an anacrusis in beats (0 = the piece starts on a downbeat).
    window_bars : int
        Bars per local-key window.
    name : str
        Shown as the analysis source.

    Returns
    -------
    Analysis

    Raises
    ------
    InputError
        If there are no notes.
    """
    if pickup < 0:
        raise ValueError(f"pickup must be >= 0 beats, got {pickup}")
    tracks: list[list[Note]]
    if notes and all(isinstance(n, Note) for n in notes):
        tracks = [list(notes)]  # type: ignore[arg-type]
    else:
        tracks = [list(t) for t in notes]  # type: ignore[arg-type]
    piece = piece_from_notes(
        tracks, name=name, time_signatures=[(0.0, *time_signature)], pickup=pickup
    )
    return analyze_piece(piece, window_bars=window_bars)


def analysis_score(analysis: Analysis) -> float:
    """One number in [0, 1] ranking candidates for best-of-K selection (higher is better).

    ``score = 0.4 * clarity + 0.35 * smoothness + 0.25 * ending`` where

    * ``clarity = clip(key correlation, 0, 1)`` (music21's correlation of the
      piece with its best key profile),
    * ``smoothness = 1 / (1 + f / 10)`` with ``f`` the voice-leading faults per
      100 beats (10 faults per 100 beats halve it),
    * ``ending = 1`` for a perfect authentic cadence on the final chord, 0.75
      for an imperfect authentic one, 0.5 for a plagal, half or deceptive
      one, 0 for none.

    Parameters
    ----------
    analysis : Analysis
        The analysis of one candidate.

    Returns
    -------
    float
        The score, in [0, 1].
    """
    clarity = min(max(analysis.key.correlation, 0.0), 1.0)
    smoothness = 1.0 / (1.0 + analysis.faults_per_100_beats / 10.0)
    final = analysis.final_cadence
    if final is None:
        ending = 0.0
    elif final.kind == "authentic":
        ending = 1.0 if final.subtype == "perfect" else 0.75
    else:
        ending = 0.5
    return 0.4 * clarity + 0.35 * smoothness + 0.25 * ending
