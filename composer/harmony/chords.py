"""Chord labels: a Viterbi pass over the half-beat slices, named in the local key.

:func:`harmony` finds the local keys (:func:`~composer.harmony.keyfinding.key_path`) and the
chords together: each slice's chord is chosen among the templates of
:mod:`~composer.harmony.numerals` by how well it covers the slice's sound (non-chord tones set
aside by :mod:`~composer.harmony.slices`), the bass, and how usual it is in the local key; a
change of chord costs more between beats than on them, so labels follow the harmonic rhythm.
V-I arrivals then confirm their keys and both passes run again; a key change whose first beat
is a pivot (a chord of the old key, no note of the new key) starts a beat later, one whose new
note sounds between the beats before it starts there.  numpy is imported inside the functions;
music21 only to spell chord symbols.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from composer.events import Note
from composer.harmony import keymodel, pivots
from composer.harmony.keyfinding import (
    KEY_NAMES,
    NEW_NOTE_SHARE,
    KeyRegion,
    key_index,
    key_path,
    key_regions,
    m21_key,
    new_notes,
    short_key_name,
)
from composer.harmony.numerals import QUALITIES, QUALITY_NAMES, SYMBOL_SUFFIX, chord_prior, roman_figure
from composer.harmony.piece import VoicedPiece
from composer.harmony.pivots import pivots_in_old_key
from composer.harmony.slices import Slices, make_slices
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
    root_pc: int = field(default=-1, compare=False)  # chord root (pitch class)
    bass_pc: int = field(default=-1, compare=False)  # chord member in the bass
    third: int = field(default=0, compare=False)  # semitones from the root to the third (3, 4)
    quality: str = field(default="", compare=False)  # a key of numerals.QUALITIES

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of one chord (docs/analysis.md)."""
        return {
            "offset": self.offset,
            "bar": self.bar,
            "beat": self.beat,
            "pitches": list(self.pitches),
            "symbol": self.symbol,
            "roman": self.roman,
            "key": self.key,
        }


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


def sounding_pitches(notes: Sequence[Note], starts: Sequence[float], max_dur: float, t: float) -> tuple[int, ...]:
    """The pitches (low to high) of ``notes`` (sorted, with their ``starts``) sounding at ``t``."""
    lo = bisect.bisect_left(starts, t - max_dur - 1e-6)
    hi = bisect.bisect_right(starts, t + ONSET_EPS)
    return tuple(sorted({n.pitch for n in notes[lo:hi] if n.end > t + ONSET_EPS}))


# ---------------------------------------------------------------- chord labels by Viterbi

FIT_WEIGHT = 1.0  # reward for the share of the slice's sound inside the chord
OUT_WEIGHT = 1.5  # cost for the share outside it (non-chord tones not set aside)
MISSING_WEIGHT = (0.6, 0.6, 0.2, 0.8)  # cost of a missing root, third, fifth, seventh
BASS_ROOT_BONUS = 0.3  # the bass on the root
BASS_OUT_COST = 0.4  # the bass outside the chord
PRIOR_WEIGHT = 0.5  # weight of numerals.chord_prior (usual chords in the local key)
CHANGE_COST = {3: 0.1, 2: 0.2, 1: 0.35}  # a chord change at a bar line, on a beat, between beats
_PRESENT = 0.05  # a pitch class sounding less than this share of a slice is absent


@functools.lru_cache(maxsize=1)
def _templates() -> tuple[Any, Any, Any, list[tuple[int, str]]]:
    """(member indicator (S, 12), missing-cost matrix (S, 12), root pcs (S,), states)."""
    import numpy as np

    states = [(r, q) for r in range(12) for q in QUALITY_NAMES]
    member = np.zeros((len(states), 12))
    miss = np.zeros((len(states), 12))
    for s, (r, q) in enumerate(states):
        for k, iv in enumerate(QUALITIES[q]):
            member[s, (r + iv) % 12] = 1.0
            miss[s, (r + iv) % 12] = MISSING_WEIGHT[k]
    roots = np.array([r for r, _ in states])
    return member, miss, roots, states


@functools.lru_cache(maxsize=64)
def _prior_row(key_idx: int) -> Any:
    import numpy as np

    _, _, _, states = _templates()
    tonic, mode = key_idx % 12, ("major" if key_idx < 12 else "minor")
    return PRIOR_WEIGHT * np.array([chord_prior((r - tonic) % 12, q, mode) for r, q in states])


def chord_path(sl: Slices, slice_keys: Sequence[int]) -> list[int]:
    """The chord (state index into the templates) of each slice: Viterbi with change costs."""
    import numpy as np

    member, miss, roots, _ = _templates()
    n = sl.n
    if n == 0:
        return []
    w = np.asarray(sl.chordal, dtype=float)
    tot = w.sum(axis=1, keepdims=True)
    share = np.divide(w, tot, out=np.zeros_like(w), where=tot > 1e-9)
    fit = share @ member.T
    absent = (share < _PRESENT).astype(float)
    emit = FIT_WEIGHT * fit - OUT_WEIGHT * (1.0 - fit) - absent @ miss.T
    bass = np.array(sl.onset_bass) % 12
    has_bass = np.array(sl.onset_bass) >= 0
    in_chord = member[:, bass].T > 0  # (n, S)
    emit += has_bass[:, None] * (BASS_ROOT_BONUS * (roots[None, :] == bass[:, None]) - BASS_OUT_COST * ~in_chord)
    emit += np.vstack([_prior_row(k) for k in slice_keys])
    emit[tot[:, 0] <= 1e-9] = 0.0  # silence: no evidence
    change = np.array([CHANGE_COST[s] for s in sl.strength])
    score = emit[0].copy()
    back = np.zeros((n, emit.shape[1]), dtype=np.int32)
    idx = np.arange(emit.shape[1])
    for i in range(1, n):
        j = int(score.argmax())
        switch = score[j] - change[i]
        stay = score >= switch
        back[i] = np.where(stay, idx, j)
        score = np.where(stay, score, switch) + emit[i]
    path = [int(score.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i][path[-1]]))
    return path[::-1]


def label_slices(
    piece: VoicedPiece, sl: Slices, path: Sequence[int], slice_keys: Sequence[int], key_names: Sequence[str]
) -> list[ChordLabel]:
    """Chord labels at every beat and at each change between beats, where something sounds."""
    _, _, _, states = _templates()
    notes = piece.notes
    starts = [n.start for n in notes]
    max_dur = max(n.duration for n in notes)
    out = []
    for i, t in enumerate(sl.starts):
        if sl.strength[i] < 2 and (i == 0 or path[i] == path[i - 1]):
            continue
        ps = sounding_pitches(notes, starts, max_dur, t)
        if not ps:
            continue
        root, q = states[path[i]]
        members = {(root + iv) % 12 for iv in QUALITIES[q]}
        bass = sl.onset_bass[i] % 12 if sl.onset_bass[i] >= 0 else root
        if bass not in members:
            bass = next((p % 12 for p in ps if p % 12 in members), root)
        k = slice_keys[i]
        tonic, mode = k % 12, ("major" if k < 12 else "minor")
        figure = roman_figure((root - tonic) % 12, q, (bass - tonic) % 12, mode)
        key_name = key_names[k]
        symbol = _spelling(key_name)[root].replace("-", "b") + SYMBOL_SUFFIX[q]
        third = next((iv for iv in QUALITIES[q][1:2]), 0)
        bar, beat = piece.locate(t)
        out.append(ChordLabel(t, bar, beat, ps, symbol, figure, key_name, root, bass, third, q))
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


# ---------------------------------------------------------------- keys and chords together

CADENCE_BONUS = 0.3  # key evidence per beat for the tonic of a V-I arrival
CHORD_BEATS = 1.25  # beats per chord up to which every beat's key evidence weighs in full
CHORD_BEATS_POWER = 2.0  # longer chords: the evidence per beat scales as (CHORD_BEATS / beats per chord) ** this
PIVOT_IN_OLD_KEY = True  # a key change moves past its pivot beats (pivots.pivots_in_old_key)
NEW_NOTE_BETWEEN_BEATS = True  # a key change moves back to its new note between the beats
CADENCE_SPAN = 0  # beats before the arrival that the cadence confirms (0: the arrival beat alone)
INNER_PICARDY_CADENCE = True  # only a major tonic that ends the old key's cadence (inner_picardy_thirds)
INNER_PICARDY_BEATS = 1  # beats of a minor key's major tonic a key change moves past (inner_picardy_thirds)
START_BONUS = 2.0  # key evidence at the first beat for the key the first pass ends in (the home key)
TONICIZED_BACK_BEATS = 1  # beats before a tonicized arrival's approach that may join its key (tonicized_arrivals)
EXCURSION_OWN_ARRIVAL = True  # an excursion is confirmed only by an arrival on its own tonic, not its parallel's
BASS_KEY_WEIGHT = 0.0  # the bass's sounding time counted this many times more in the beats' key evidence
LEARNED_KEYS = True  # the rule path's keys read again by the learned key model (keymodel.learned_path; round 14)


def cadence_bonus(sl: Slices, path: Sequence[int], beats: Sequence[int], parallel: float = 0.5) -> Any:
    """(n beats, 24) key evidence from authentic arrivals: V(7) -> I/i, bass 5 -> 1, on a beat.

    On the arrival's beat and the :data:`CADENCE_SPAN` beats before it (0 since round 10: the
    analysts read the approach as often in the key around the cadence, ``V/vi vi``, as in the
    key it arrives in); a major arrival gives its parallel minor ``parallel`` times the bonus
    (a minor key may end on a Picardy third).
    """
    import numpy as np

    _, _, _, states = _templates()
    bonus = np.zeros((len(beats), 24))
    beat_pos = {s: b for b, s in enumerate(beats)}
    for i in range(1, sl.n):
        if path[i] == path[i - 1] or sl.strength[i] < 2:
            continue
        r, q = states[path[i]]
        pr, pq = states[path[i - 1]]
        if q not in ("maj", "min") or pq not in ("maj", "dom7") or (pr - r) % 12 != 7:
            continue
        if sl.onset_bass[i] < 0 or sl.onset_bass[i] % 12 != r:
            continue
        b = beat_pos[sl.beat_of[i]]
        lo = max(0, b - CADENCE_SPAN)
        if q == "min":
            bonus[lo : b + 1, 12 + r] += CADENCE_BONUS
        else:
            bonus[lo : b + 1, r] += CADENCE_BONUS
            bonus[lo : b + 1, 12 + r] += parallel * CADENCE_BONUS
    return bonus


def _key_sound(sl: Slices) -> Any:
    """(n slices, 12) the sound the keys are read from: ``sl.raw``, the bass's :data:`BASS_KEY_WEIGHT` times more."""
    import numpy as np

    raw = np.asarray(sl.raw, dtype=float)
    if not BASS_KEY_WEIGHT:
        return raw
    bass = np.asarray(sl.bass)
    has = np.flatnonzero(bass >= 0)
    out = raw.copy()
    out[has, bass[has] % 12] += BASS_KEY_WEIGHT * np.asarray(sl.lengths, dtype=float)[has]
    return out


def evidence_weight(n_beats: int, path: Sequence[int]) -> float:
    """Scale of each beat's key evidence from the harmonic rhythm of the chord ``path`` (slices).

    A key is heard in its chords, not in beats: where chords last longer than
    :data:`CHORD_BEATS` beats on average (a madrigal's half notes and whole notes under a
    quarter-note beat), each beat weighs ``(CHORD_BEATS / beats per chord) **
    CHORD_BEATS_POWER``, so a held chord of another key's colour does not pull the key as
    hard as several beats of new harmony would.  1.0 for a chorale's chord a beat.
    """
    changes = 1 + sum(1 for a, b in zip(path, path[1:], strict=False) if a != b)
    beats_per_chord = n_beats / changes
    return min(1.0, (CHORD_BEATS / beats_per_chord) ** CHORD_BEATS_POWER) if beats_per_chord > 0 else 1.0


def inner_picardy_thirds(
    path: Sequence[int], beat_chords: Sequence[int], last_chords: Sequence[int] | None = None
) -> list[int]:
    """``path`` (a key per beat) with a change from a minor key moved past its major tonic.

    The beats at the change's start that hold the old minor key's tonic chord with a major
    third (a Picardy third inside the piece) stay in the old key, where that chord ends the old
    key's cadence: the beat before it holds (first or last, ``last_chords``: the chord at the end
    of each beat) the old key's dominant, or its minor tonic struck on that beat (``V i I``, the
    third raised on the arrival).
    ``d: V7 I | G: iii vi``: the phrase ends on D minor's major tonic, which the key HMM reads
    as ``G: V`` (its F# is G major's, not D minor's); the analysts read it in the key it ends.
    A minor tonic held from the beat before ended the phrase itself: the major chord after it
    begins the next one as V of the new key (``f: V7 i | bb: V i``; :data:`INNER_PICARDY_CADENCE`).
    At most :data:`INNER_PICARDY_BEATS` beats, and not where the new key would keep no beat.
    """
    _, _, _, states = _templates()
    last = beat_chords if last_chords is None else last_chords
    out = list(path)
    for i in range(1, len(path)):
        old, new = path[i - 1], path[i]
        if old == new or old < 12:
            continue
        if INNER_PICARDY_CADENCE and not _picardy_approach(i, old % 12, beat_chords, last, states):
            continue
        j = i
        while j < len(path) and j - i < INNER_PICARDY_BEATS and path[j] == new:
            if states[beat_chords[j]] != ((old - 12) % 12, "maj"):
                break
            j += 1
        if j > i and j < len(path) and path[j] == new:
            out[i:j] = [old] * (j - i)
    return out


def _picardy_approach(
    i: int, tonic: int, beat_chords: Sequence[int], last_chords: Sequence[int], states: Sequence[tuple[int, str]]
) -> bool:
    """Beat ``i - 1`` approaches a major tonic on beat ``i`` as a cadence of the minor key on ``tonic``.

    Its first or last chord is the key's dominant, or its first chord is the minor tonic struck
    there (not held from beat ``i - 2``: a held tonic ended its phrase before the major chord).
    """
    first, end = beat_chords[i - 1], last_chords[i - 1]
    if _dominant_state(states[first], tonic) or _dominant_state(states[end], tonic):
        return True
    struck = i < 2 or last_chords[i - 2] != first
    return states[first] == (tonic, "min") and struck


def _dominant_state(state: tuple[int, str], tonic: int) -> bool:
    """A template state is a dominant of ``tonic`` (V, V7, or a diminished chord on its leading tone)."""
    root, quality = state
    rel = (root - tonic) % 12
    return (rel == 7 and quality in ("maj", "dom7")) or (rel == 11 and quality in ("dim", "dim7", "hdim7"))


def tonicized_arrivals(
    path: Sequence[int],
    beat_starts: Sequence[float],
    beat_chords: Sequence[int],
    arrivals: Sequence[tuple[float, float, int]],
) -> list[int]:
    """``path`` (a key per beat) with each arrival ``(approach onset, arrival onset, key)`` in its key.

    The beats from the approach's to the arrival's, the arrival chord's held beats after it, and
    before the approach the beats of the same old key whose chords are the new key's usual
    diatonic chords (prior 0: ``D: ii V7 I`` from ``G: vi V/V V``) take the arrival's key.
    """
    _, _, _, states = _templates()
    out = list(path)
    n = len(path)
    for t0, t1, k in arrivals:
        a = max(0, bisect.bisect_right(beat_starts, t0 + 1e-6) - 1)
        r = max(0, bisect.bisect_right(beat_starts, t1 + 1e-6) - 1)
        if out[r] == k:
            continue
        old = path[a]
        e = r
        while e + 1 < n and beat_chords[e + 1] == beat_chords[r] and path[e + 1] == path[r]:
            e += 1
        lo = max(0, a - TONICIZED_BACK_BEATS)
        while a > lo and path[a - 1] == old:
            root, quality = states[beat_chords[a - 1]]
            if chord_prior((root - k) % 12, quality, "major" if k < 12 else "minor") < 0.0:
                break
            a -= 1
        out[a : e + 1] = [k] * (e + 1 - a)
    return out


def changes_at_new_notes(slice_keys: Sequence[int], sl: Slices) -> list[int]:
    """``slice_keys`` with each key change moved back to where its new note sounds between the beats.

    A change on a beat starts instead at the first of the slices between that beat and the one
    before it that sounds a note of the new key that the old one lacks (``V2`` of the new key on
    the second eighth: the new key begins there, not a beat later).
    """
    import numpy as np

    table = new_notes()
    raw = np.asarray(sl.raw, dtype=float)
    sounds = raw > NEW_NOTE_SHARE * np.maximum(raw.sum(axis=1, keepdims=True), 1e-9)
    out = list(slice_keys)
    for i in range(1, sl.n):
        old, new = slice_keys[i - 1], slice_keys[i]
        if old == new or sl.strength[i] < 2:
            continue
        first, j = None, i - 1
        while j >= 0 and sl.strength[j] < 2:
            if (table[old, new] & sounds[j]).any():
                first = j
            j -= 1
        if first is not None:
            out[first:i] = [new] * (i - first)
    return out


def harmony(
    piece: VoicedPiece,
    global_key: str,
    window_bars: float,
    arrivals: Sequence[tuple[float, float, int]] = (),
    phrase_ends: Sequence[float] = (),
) -> tuple[list[KeyRegion], list[ChordLabel]]:
    """Local keys and chord labels of ``piece``.

    Keys by Viterbi over the beats' key evidence (``window_bars`` > 0 pools the bars around
    each beat), chords by Viterbi over the slices in those keys, then V-I arrivals confirm
    their keys, the first beat leans to the key the piece ends in (:data:`START_BONUS`), the
    harmonic rhythm scales the key evidence (:func:`evidence_weight`), and both passes run
    again; then the key changes move past pivots (and back to a phrase's start, ``phrase_ends``
    the beats of its cadences' arrivals, where :data:`~composer.harmony.pivots.PHRASE_START_BEATS`
    is set), short excursions that no V-I arrival on their own tonic confirms join the key around
    them (:func:`~composer.harmony.pivots.unconfirmed_excursions`), ``arrivals`` (``(t0, t1, key
    index)``: :func:`tonicized_arrivals`) take their keys, and inner Picardy thirds stay in their keys.
    ``global_key`` only names the key when a region is in it (its enharmonic spelling).
    """
    import numpy as np

    sl = make_slices(piece)
    if sl.n == 0:
        return [], []
    beats = [i for i, s in enumerate(sl.strength) if s >= 2]
    beat_pos = {s: b for b, s in enumerate(beats)}
    raw = np.asarray(sl.raw)
    bounds = [*beats, sl.n]
    vectors = np.vstack([_key_sound(sl)[a:b].sum(axis=0) for a, b in zip(bounds, bounds[1:], strict=False)])
    per_bar = max(1.0, piece.numerator * 4.0 / piece.denominator / piece.beat_unit)
    half = round(window_bars * per_bar / 2) if window_bars > 0 else 0
    g = key_index(global_key)
    names = list(KEY_NAMES)
    names[g] = global_key
    kpath, _ = key_path(vectors, half)
    slice_keys = [kpath[beat_pos[b]] for b in sl.beat_of]
    cpath = chord_path(sl, slice_keys)

    def rekey(new: list[int]) -> None:  # a new key per beat: the chords again in those keys
        nonlocal kpath, slice_keys, cpath
        if new != kpath:
            kpath = new
            slice_keys = [kpath[beat_pos[b]] for b in sl.beat_of]
            cpath = chord_path(sl, slice_keys)

    bonus = cadence_bonus(sl, cpath, beats)
    bonus[0, kpath[-1]] += START_BONUS  # a piece begins in the key it ends in
    weight = evidence_weight(len(beats), cpath)
    if bonus.any() or weight < 1.0:
        rekey(key_path(vectors, half, bonus, weight)[0])
    if PIVOT_IN_OLD_KEY:
        rekey(pivots_in_old_key(kpath, vectors, [cpath[b] for b in beats]))
    if phrase_ends and pivots.PHRASE_START_BEATS:
        starts = [sl.starts[b] for b in beats]
        ends = sorted({max(0, bisect.bisect_right(starts, t + ONSET_EPS) - 1) for t in phrase_ends})
        at_beats = [cpath[b] for b in beats]
        rekey(pivots.changes_at_phrase_starts(kpath, vectors, at_beats, ends, pivots.PHRASE_START_BEATS))
    if pivots.EXCURSION_BEATS:
        confirmed = cadence_bonus(sl, cpath, beats, 0.0 if EXCURSION_OWN_ARRIVAL else 0.5) > 0
        rekey(pivots.unconfirmed_excursions(kpath, confirmed, pivots.EXCURSION_BEATS))
    if pivots.PREDOMINANT_BEATS:
        rekey(pivots.predominants_in_new_key(kpath, [cpath[b] for b in beats], pivots.PREDOMINANT_BEATS))
    if arrivals:
        rekey(tonicized_arrivals(kpath, [sl.starts[b] for b in beats], [cpath[b] for b in beats], arrivals))
    if INNER_PICARDY_BEATS:
        last = [cpath[b - 1] for b in beats[1:]] + [cpath[-1]]
        rekey(inner_picardy_thirds(kpath, [cpath[b] for b in beats], last))
    if LEARNED_KEYS:
        arrived = cadence_bonus(sl, cpath, beats, 0.0) > 0
        rekey(keymodel.learned_path(vectors, [sl.bass[b] for b in beats], [cpath[b] for b in beats], kpath, arrived))
    if NEW_NOTE_BETWEEN_BEATS:
        early = changes_at_new_notes(slice_keys, sl)
        if early != slice_keys:
            slice_keys = early
            cpath = chord_path(sl, slice_keys)
    regions = key_regions(piece, sl.starts, slice_keys, raw)
    regions = [
        KeyRegion(names[key_index(r.key)], r.start_bar, r.end_bar, r.start, r.end, r.correlation) for r in regions
    ]
    return regions, label_slices(piece, sl, cpath, slice_keys, names)
