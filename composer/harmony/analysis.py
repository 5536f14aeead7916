"""Harmonic analysis of one piece: everything ``composer analyze`` reports, and its score.

Entry points: :func:`analyze_file` (MIDI, MusicXML, ABC, kern),
:func:`analyze_notes` (notes from the generator, no file) and
:func:`analysis_score` (one number in [0, 1] for best-of-K selection).
The work is done by the modules below this one: keys in
:mod:`~composer.harmony.keyfinding`, chords in :mod:`~composer.harmony.chords`,
cadences in :mod:`~composer.harmony.cadences`, voice leading in
:mod:`~composer.harmony.voiceleading`, figures in :mod:`~composer.harmony.figures`.
music21 is imported inside the functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from composer.errors import InputError
from composer.events import Note
from composer.harmony import pivots
from composer.harmony.cadences import Cadence, find_cadences, picardy_tonics, tonicized_dominants
from composer.harmony.chords import ChordLabel, harmony, progression_line
from composer.harmony.figures import descriptive_figures
from composer.harmony.keyfinding import KeyEstimate, KeyRegion, global_key, m21_key
from composer.harmony.piece import VoicedPiece, load_piece, piece_from_notes
from composer.harmony.voiceleading import (
    FAULT_KINDS,
    VoiceFault,
    check_voice_leading,
    voice_names,
)
from composer.keys import MAJOR_SCALE, MINOR_ALL_FORMS

SCHEMA_VERSION = 2  # 2: chords also at changes between beats; local keys by Viterbi
WINDOW_BARS = 0  # bars of key evidence pooled around each beat (0: each beat alone; local keys)
# Local keys and chords are found by Viterbi over every half beat: a 99,000-beat file took 12 s
# and 1 GB.  20,000 beats is 2.8 hours at 120 bpm; one held note that long analyses in 3.7 s,
# four busy voices (80,000 notes) in 8.3 s, whole command, one core.  Raise it with --max-beats.
MAX_ANALYSIS_BEATS = 20_000
TONICIZED_HALF_CADENCES = True  # a phrase-end V from its own root-position dominant is read in its key


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
    piece: VoicedPiece = field(repr=False)

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
                "alternates": [{"name": n, "correlation": round(r, 4)} for n, r in self.key.alternates],
            },
            "local_keys": [asdict(r) for r in self.local_keys],
            "modulations": [
                {"bar": b.start_bar, "offset": b.start, "from": a.key, "to": b.key}
                for a, b in zip(self.local_keys, self.local_keys[1:], strict=False)
            ],
            "chords": [c.to_dict() for c in self.chords],
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
                "per_100_beats_by_kind": {k: round(v * per100, 3) for k, v in self.fault_counts.items()},
                "faults": [f.to_dict() for f in self.faults],
            },
            "figures": self.figures,
            "quality_score": round(analysis_score(self), 4),
        }


# ---------------------------------------------------------------- figures


def _figures(piece: VoicedPiece, key_name: str) -> dict[str, Any]:
    k = m21_key(key_name)
    tonic = k.tonic.pitchClass
    steps = MINOR_ALL_FORMS if k.mode == "minor" else MAJOR_SCALE
    return descriptive_figures(piece.notes, frozenset((tonic + s) % 12 for s in steps))


# ---------------------------------------------------------------- public API


def analyze_piece(
    piece: VoicedPiece, *, window_bars: int = WINDOW_BARS, max_beats: int = MAX_ANALYSIS_BEATS
) -> Analysis:
    """Analyze a :class:`~composer.harmony.piece.VoicedPiece` (voices plus bar grid).

    Parameters
    ----------
    piece : VoicedPiece
        From :func:`~composer.harmony.piece.load_piece` or
        :func:`~composer.harmony.piece.piece_from_notes`.
    window_bars : int
        Bars of key evidence pooled around each beat (>= 0; 0 = each beat's own sound).
    max_beats : int
        Longest piece analysed, in beats of its metre (from its start, or from 0, to its end).

    Returns
    -------
    Analysis

    Raises
    ------
    InputError
        If the piece is longer than ``max_beats``.
    """
    if window_bars < 0:
        raise ValueError(f"window_bars must be >= 0, got {window_bars}")
    # Counted in the metre's beats: the slices are half beats (in 1/64, 32 per quarter note).
    span = (piece.end - min(min(n.start for n in piece.notes), 0.0)) / piece.beat_unit
    if span > max_beats:
        raise InputError(
            f"{piece.name}: {span:.0f} beats long (in {piece.numerator}/{piece.denominator}), over the "
            f"analysis limit of {max_beats} beats (raise it with --max-beats)"
        )
    key_est, _ = global_key(piece.notes)
    regions, chords, cadences = _harmony_and_cadences(piece, key_est.name, window_bars)
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
        progression=progression_line(chords),
        cadences=cadences,
        voices=voices,
        faults=faults,
        figures=_figures(piece, key_est.name),
        piece=piece,
    )


def analyze_file(
    path: str | Path, *, window_bars: int = WINDOW_BARS, max_beats: int = MAX_ANALYSIS_BEATS
) -> Analysis:
    """Analyze a MIDI, MusicXML, ABC or Humdrum (kern) file.

    Parameters
    ----------
    path : str or Path
        The file. MIDI goes through the untrusted-file checks of
        :func:`composer.midifile.load_score`; one track of chords is split
        into voices by pitch, several monophonic tracks are the voices.
    window_bars : int
        Bars of key evidence pooled around each beat (0 = none).
    max_beats : int
        Longest piece analysed (see :func:`analyze_piece`).

    Returns
    -------
    Analysis

    Raises
    ------
    MidiError
        For a missing, empty, corrupt or over-limit MIDI file.
    InputError
        For any other unreadable file, one without pitched notes, or one over ``max_beats``.
    """
    return analyze_piece(load_piece(path), window_bars=window_bars, max_beats=max_beats)


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
        Bars of key evidence pooled around each beat (0 = none).
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
    piece = piece_from_notes(tracks, name=name, time_signatures=[(0.0, *time_signature)], pickup=pickup)
    return analyze_piece(piece, window_bars=window_bars)


def _harmony_and_cadences(piece: VoicedPiece, key: str, window_bars: int,
                          ) -> tuple[Any, list[ChordLabel], list[Cadence]]:
    """Local keys, chords and cadences of ``piece`` in home key ``key`` (the steps of :func:`analyze_piece`)."""
    regions, chords = harmony(piece, key, window_bars)
    cadences = find_cadences(piece, chords, regions, key)
    arrivals = tonicized_dominants(piece, chords, cadences) if TONICIZED_HALF_CADENCES else []
    ends = [c.offset for c in cadences if c.phrase_end in pivots.PHRASE_ENDS] if pivots.PHRASE_START_BEATS else []
    if arrivals or ends:  # a phrase-end V from its own root-position dominant: I of the dominant key
        regions, chords = harmony(piece, key, window_bars, arrivals, ends)
        cadences = find_cadences(piece, chords, regions, key)
    named = picardy_tonics(chords, cadences)  # a minor key's major tonic: I, or V/iv before iv
    if named != chords:  # the cadences again, for their progressions ("V7 I")
        chords, cadences = named, find_cadences(piece, named, regions, key)
    return regions, chords, cadences


def cadences_in(piece: VoicedPiece, key: str, window_bars: int = WINDOW_BARS) -> list[Cadence]:
    """The cadences :func:`analyze_piece` finds in ``piece``, its home key given (no key finding, no figures).

    The generator's quick look at a stretch it wrote (``generation.satb.PhraseChoice``, ``PhraseRewind``).
    """
    return _harmony_and_cadences(piece, key, window_bars)[2]


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
    return 0.4 * clarity + 0.35 * smoothness + 0.25 * ending_value(analysis)


def ending_value(analysis: Analysis) -> float:
    """The final cadence's part of :func:`analysis_score`: 1 perfect authentic, 0.75 imperfect, 0.5 other, 0 none."""
    final = analysis.final_cadence
    if final is None:
        return 0.0
    if final.kind == "authentic":
        return 1.0 if final.subtype == "perfect" else 0.75
    return 0.5
