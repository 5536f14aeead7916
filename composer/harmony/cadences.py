"""Cadences at phrase ends: authentic (perfect/imperfect), half, plagal, deceptive.

Phrase ends are fermatas (score input), long soprano notes over which every voice holds, rests
in every voice, the final chord and (MIDI) cadences held on a strong beat; where the phrase ends
found leave a gap of one and a half typical phrases or more, a weaker cadence in it ends a phrase
(MIDI: a chorale's phrases are about as long as each other).  The arrival chord is the one
sounding at the phrase end; the chord before it is the last chord of another root or quality, or,
past a passing chord between the beats, the last beat's.  An arrival on a major or minor triad
from its own dominant (``V7/IV IV``) is an authentic cadence in the key of the arrival (a
tonicization).  A minor key's major tonic triad is named ``I`` (a Picardy third) unless it leads
to the subdominant within its phrase (``V/iv iv``): :func:`picardy_tonics`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace

from composer.events import Note
from composer.harmony.chords import ChordLabel, sounding_pitches, tonic_pc
from composer.harmony.keyfinding import KeyRegion
from composer.harmony.numerals import picardy_figure
from composer.harmony.piece import VoicedPiece
from composer.harmony.voiceleading import ONSET_EPS


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
    phrase_end: str  # why this is a phrase end: "fermata", "long_note", "rest", "final", "cadence"


CADENCE_GAP_BARS = 1.5  # bars between a phrase end found by its cadence alone and any other
HOLD_WITH_MELODY = True  # a cadence's arrival held in every voice as long as the melody's note
BASS_NOTE_FIVE_ONE = True  # the bass's last note on the arrival's fifth counts as a 5-1 bass
TONICIZED = True  # an arrival on a triad from its own dominant is an authentic cadence
OFFBEAT_APPROACH = True  # a cadence may be approached from the last beat's chord past a passing chord
PHRASE_GRID = 1.5  # (MIDI) gaps this many typical phrase lengths long get a phrase end at a weak cadence


def _strong_beat(piece: VoicedPiece, t: float) -> bool:
    """A bar line, or the middle of a bar of an even number of beats (beat 3 of 4/4)."""
    bar, beat = piece.locate(t)
    pos = (beat - 1) / piece.beat_unit  # beats of the metre since the bar line
    per_bar = piece.numerator * 4.0 / piece.denominator / piece.beat_unit
    mid = per_bar / 2 if round(per_bar) % 2 == 0 and per_bar >= 4 else None
    return abs(pos) < 1e-3 or (mid is not None and abs(pos - mid) < 1e-3)


def _bass_before(bass: Sequence[Note], t: float) -> int | None:
    """Pitch class of the last bass note that starts before ``t``."""
    before = [n for n in bass if n.start < t - ONSET_EPS]
    return before[-1].pitch % 12 if before else None


def _phrase_ends(piece: VoicedPiece, chords: Sequence[ChordLabel]) -> list[tuple[float, str]]:
    """Onsets of phrase-final chords and why.

    Fermatas, rests in every voice, the last chord; then, at least a bar from the start and
    from any other phrase end (the first of two wins), long soprano notes over which every voice
    holds (a long melody note with moving voices under it is inside a phrase) and, without
    fermatas (MIDI), authentic (bass 5-1) and half cadences (to a root-position V) on a strong
    beat, held in every voice for a beat and as long as the melody's note (up to two beats),
    :data:`CADENCE_GAP_BARS` from other phrase ends.  The bass's 5-1 may come from its last note
    before the arrival (V6 with the bass dropping to the fifth on the second eighth).  The other
    cadences held so (an inverted dominant, plagal, deceptive, or too near another end) are weak:
    they end a phrase only to split a gap of :data:`PHRASE_GRID` typical phrases (:func:`_fill_gaps`).
    """
    ends: dict[float, str] = {}
    bass = piece.voices[-1] if piece.voices else piece.notes
    final = max(n.start for n in bass)
    top = piece.voices[0] if piece.voices else piece.notes
    durs = sorted(n.duration for n in top)
    unit = piece.beat_unit
    long_dur = max(2 * durs[len(durs) // 2], 1.5 * unit)
    onsets = sorted({round(n.start, 6) for n in piece.notes})

    def still(t: float) -> float:
        """Time from ``t`` to the next onset in any voice."""
        i = bisect.bisect_right(onsets, t + ONSET_EPS)
        return (onsets[i] if i < len(onsets) else piece.end) - t

    # a rest in every voice after a chord ends the phrase
    covered_until = 0.0
    for n in sorted(piece.notes):
        if covered_until > 0 and n.start - covered_until >= 0.5 * unit:
            last = [m for m in top if m.start < covered_until <= m.end + 0.05]
            if last:
                ends.setdefault(round(last[-1].start, 6), "rest")
        covered_until = max(covered_until, n.end)
    for t in piece.fermatas:
        if t < final - 1e-6:
            ends[round(t, 6)] = "fermata"
    ends[round(final, 6)] = "final"
    bar_len = piece.numerator * 4.0 / piece.denominator

    first = onsets[0]

    def spaced(t: float, bars: float = 1.0) -> bool:
        """At least a bar from the first onset, and no other phrase end within ``bars`` bars."""
        gap = bars * bar_len - 1e-6
        return t - first >= bar_len - 1e-6 and not any(abs(t - e) < gap for e in ends)

    for n in top:  # in time order: of two long notes within a bar, the first ends the phrase
        t = round(n.start, 6)
        held = still(t) >= min(n.duration, 2 * unit) - 1e-6
        if n.duration >= long_dur - 1e-6 and t < final - 1e-6 and held and spaced(t):
            ends[t] = "long_note"
    if not piece.fermatas:  # MIDI: cadences held for a beat on a strong beat
        top_at = {round(n.start, 6): n.duration for n in top}
        weak: list[float] = []  # arrivals of a cadence too weak to end a phrase alone
        for i in range(1, len(chords)):
            c = chords[i]
            t = round(c.offset, 6)
            # every voice holds as long as the melody's note, up to two beats (a melody note
            # held over moving voices is inside the phrase), and at least a beat
            hold = max(unit, min(top_at.get(t, unit), 2 * unit)) if HOLD_WITH_MELODY else unit
            if t < final - 1e-6 and c.bass_pc == c.root_pc and still(t) >= hold - 1e-6 and _strong_beat(piece, t):
                kind, prev = None, chords[i - 1]
                if (prev.root_pc, prev.quality) == (c.root_pc, c.quality):
                    continue  # a chord repeated: its arrival was before
                for prev in _approaches(piece, chords, i):
                    kind = _classify(prev, c, (), c.key)
                    if kind is not None:
                        break
                if kind is None:
                    continue
                # authentic: bass 5-1 (the chord before in root position, or the bass's last
                # note, an eighth after the beat, on the arrival's fifth); half: any approach to
                # a root-position V
                five_one = prev.bass_pc == prev.root_pc or (
                    BASS_NOTE_FIVE_ONE and _bass_before(bass, t) == (c.root_pc + 7) % 12
                )
                if (kind[0] == "half" or (kind[0] == "authentic" and five_one)) and spaced(t, CADENCE_GAP_BARS):
                    ends[t] = "cadence"
                else:
                    weak.append(t)
        if PHRASE_GRID:
            _fill_gaps(ends, weak, first)
    return sorted(ends.items())


def _on_beat(piece: VoicedPiece, t: float) -> bool:
    """``t`` falls on a beat of the metre."""
    pos = (piece.locate(t)[1] - 1) / piece.beat_unit
    return abs(pos - round(pos)) < 1e-3


def _approaches(piece: VoicedPiece, chords: Sequence[ChordLabel], i: int) -> list[ChordLabel]:
    """The chords before ``chords[i]`` that may approach it in a cadence.

    The last chord of other root or quality; where that one starts between beats (a passing
    chord: V7 - I43 - I, V7 - iii6 - I), also the last such chord on a beat.
    """
    arr = chords[i]
    other = [c for c in reversed(chords[:i]) if (c.root_pc, c.quality) != (arr.root_pc, arr.quality)]
    if not other:
        return []
    if not OFFBEAT_APPROACH or _on_beat(piece, other[0].offset):
        return other[:1]
    on_beat = next((c for c in other if _on_beat(piece, c.offset)), None)
    return other[:1] + ([on_beat] if on_beat is not None else [])


def _fill_gaps(ends: dict[float, str], weak: Sequence[float], first: float) -> None:
    """Phrase ends at weak cadences where a phrase would otherwise last about two phrases.

    The typical phrase length ``L`` is the median distance between the phrase ends found (the
    piece's start counts as a boundary); wherever two boundaries are at least
    ``PHRASE_GRID * L`` apart, the weak cadence between them (at least ``L / 2`` from both)
    nearest to ``L`` after the first ends a phrase, and the gaps are looked at again.
    """
    while True:
        bounds = sorted({first, *ends})
        gaps = sorted(b - a for a, b in zip(bounds, bounds[1:], strict=False))
        if len(gaps) < 2:
            return
        length = gaps[len(gaps) // 2]
        added = False
        for a, b in zip(bounds, bounds[1:], strict=False):
            if b - a < PHRASE_GRID * length - 1e-6:
                continue
            options = [w for w in weak if a + length / 2 - 1e-6 <= w <= b - length / 2 + 1e-6]
            if options:
                ends[min(options, key=lambda w: abs(w - a - length))] = "cadence"
                added = True
                break
        if not added:
            return


def _classify(
    prev: ChordLabel, arr: ChordLabel, arr_pitches: tuple[int, ...], key_name: str
) -> tuple[str, str | None] | None:
    tonic = tonic_pc(key_name)
    minor = key_name.endswith("minor")
    rel = (arr.root_pc - tonic) % 12
    prel = (prev.root_pc - tonic) % 12
    prev_dominant = (prel == 7 and prev.third == 4) or (prel == 11 and prev.quality in ("dim", "dim7", "hdim7"))
    if rel == 0 and arr.third:
        if prev_dominant:
            top_tonic = bool(arr_pitches) and max(arr_pitches) % 12 == tonic
            perfect = prel == 7 and prev.bass_pc == prev.root_pc and arr.bass_pc == tonic and top_tonic
            return "authentic", "perfect" if perfect else "imperfect"
        if prel == 5:
            return "plagal", None
        return None
    if rel == 7 and arr.third == 4:
        return "half", None
    if rel == (8 if minor else 9) and arr.third and prev_dominant:
        return "deceptive", None
    if TONICIZED and arr.third and arr.quality in ("maj", "min") and _dominant_of(prev, arr.root_pc):
        return "authentic", "imperfect"  # in the key of the arrival (a tonicization: V7/IV IV)
    return None


def _dominant_of(prev: ChordLabel, root: int) -> bool:
    """``prev`` is a dominant (major triad or seventh on the fifth, leading-tone diminished) of ``root``."""
    rel = (prev.root_pc - root) % 12
    return (rel == 7 and prev.third == 4) or (rel == 11 and prev.quality in ("dim", "dim7", "hdim7"))


def tonicized_dominants(
    piece: VoicedPiece, chords: Sequence[ChordLabel], cadences: Sequence[Cadence]
) -> list[tuple[float, float, int]]:
    """The half cadences reached from the arrival's own root-position dominant, as key arrivals.

    ``V/V V`` with the bass falling a fifth (or rising a fourth) from root to root at a phrase
    end: the tuning chorales' analysts hear the arrival as I of the dominant key (``D: ii V7 I``
    where the key HMM had ``G: vi V/V V``); a ``V65/V V`` or ``viio7/V V`` stays a half
    cadence, and so does one on the final chord (they end ``a: ... viio7/V V``, ``a: i V``).
    Each is ``(approach onset, arrival onset, key index of the arrival's major key)``,
    for :func:`~composer.harmony.chords.harmony`'s ``arrivals``.
    """
    notes = piece.notes
    starts = [n.start for n in notes]
    max_dur = max(n.duration for n in notes)
    offsets = [c.offset for c in chords]
    out = []
    for cad in cadences:
        if cad.kind != "half":
            continue
        i = bisect.bisect_right(offsets, cad.offset + ONSET_EPS) - 1
        if i == len(chords) - 1:
            continue  # the final chord: a closing half cadence is V of the key (the analysts' a: V)
        arr = chords[i]
        arr_ps = sounding_pitches(notes, starts, max_dur, cad.offset)
        for prev in _approaches(piece, chords, i):
            if _classify(prev, arr, arr_ps, arr.key) is None:
                continue
            root_pos = prev.bass_pc == prev.root_pc and arr.bass_pc == arr.root_pc
            triad = arr.quality == "maj"  # a V7 arrival is no tonic
            if triad and root_pos and (prev.root_pc - arr.root_pc) % 12 == 7 and prev.third == 4:
                out.append((prev.offset, cad.offset, arr.root_pc % 12))
            break
    return out


def find_cadences(
    piece: VoicedPiece, chords: Sequence[ChordLabel], regions: Sequence[KeyRegion], default_key: str
) -> list[Cadence]:
    """Find the cadences at the phrase ends of ``piece``, in time order.

    Parameters
    ----------
    piece : VoicedPiece
        The piece.
    chords : sequence of ChordLabel
        Its chords by beat.
    regions : sequence of KeyRegion
        Its local keys (each cadence is judged in its local key).
    default_key : str
        Key used outside every region.

    Returns
    -------
    list of Cadence
    """
    del regions, default_key  # each chord carries its local key
    notes = piece.notes
    starts = [n.start for n in notes]
    max_dur = max(n.duration for n in notes)
    offsets = [c.offset for c in chords]
    out = []
    for t, why in _phrase_ends(piece, chords):
        arr_ps = sounding_pitches(notes, starts, max_dur, t)
        i = bisect.bisect_right(offsets, t + ONSET_EPS) - 1
        if not arr_ps or i < 0:
            continue
        arr = chords[i]
        k = arr.key
        kind, prev = None, None
        for prev in _approaches(piece, chords, i):
            kind = _classify(prev, arr, arr_ps, k)
            if kind is not None:
                break
        if kind is None or prev is None:
            continue
        bar, beat = piece.locate(t)
        out.append(Cadence(kind[0], kind[1], bar, beat, round(t, 4), k, f"{prev.roman} {arr.roman}", why))
    return out


def picardy_tonics(chords: Sequence[ChordLabel], cadences: Sequence[Cadence]) -> list[ChordLabel]:
    """``chords`` with each major tonic triad of a minor key named ``I`` unless it is ``V/iv``.

    :func:`~composer.harmony.numerals.roman_figure` names that chord as the dominant of the
    subdominant.  It is one where the next chord of another root is on the subdominant (``V/iv
    iv6``; the chord held, or with its seventh, ``V7/iv``, counts as one); where it ends a phrase
    (the arrival of one of ``cadences``), ends the piece or goes anywhere else, it is the tonic
    with a major third, ``I`` (``V7 I``), as the analysts write a Picardy third.
    """
    out = list(chords)
    offsets = [c.offset for c in chords]
    arrivals = {bisect.bisect_right(offsets, c.offset + ONSET_EPS) - 1 for c in cadences}
    for i, c in enumerate(chords):
        if c.quality != "maj" or not c.key.endswith("minor") or c.root_pc != tonic_pc(c.key):
            continue
        j = i  # the same chord held, inverted or with its seventh
        while j < len(chords) and chords[j].root_pc == c.root_pc and chords[j].quality in ("maj", "dom7"):
            j += 1
        to_iv = j < len(chords) and chords[j].root_pc == (c.root_pc + 5) % 12
        if not to_iv or any(k in arrivals for k in range(i, j)):
            out[i] = replace(c, roman=picardy_figure((c.bass_pc - c.root_pc) % 12))
    return out
