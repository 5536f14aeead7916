"""Logit offsets of the four-voice sampler (:mod:`.satb`): the soft key, and odds reweighted in context.

The sampler adds a state's ``bias`` (V,) to the model's logits before it masks and draws; under
typed sampling the odds of each kind (hold, new note, rest, ...) are read after the offsets, so
an offset of ``log(f)`` on a set of tokens multiplies their odds by ``f``.

* :func:`key_offsets`: the soft key (``SampleOptions.key_bias``), sparing some chromatic degrees.
* :func:`fourth_pc_offsets`: a fourth pitch class on a beat at reduced odds
  (``SampleOptions.four_pcs``).
* :data:`ONSET_CALIBRATION`, :func:`onset_offsets`: a voice's new notes between the beats at the odds that
  bring its eighths and 16ths to Bach's (``SampleOptions.onset_odds``).
* ``sixteenth`` in :func:`onset_offsets` and :func:`beat_offsets`: a voice's new note right after it struck at a
  16th's place (``SampleOptions.sixteenth_odds``).
* :func:`clash_offsets`: a new note on a beat a semitone from one struck above it at reduced odds
  (``SampleOptions.clash_odds``).
* :data:`DEGREE_CALIBRATION`: new notes on each degree of the mode at the odds that bring the
  sampler's degree shares to Bach's (``SampleOptions.degree_odds``).
* :data:`MOTION_CALIBRATION`, :class:`MotionOdds`: a voice's next melodic motion after its last at the
  odds of Bach's lines (``SampleOptions.motion_odds``): on in steps where the sampler zigzags; with them
  on the beats the degrees at :data:`DEGREE_CALIBRATION_MOTION` (fitted on that sampler;
  ``SampleOptions.motion_degrees``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from composer.keys import HARMONIC_MINOR_SCALE, MAJOR_SCALE

#: Chromatic degrees the soft key penalizes less (times ``SampleOptions.raised_penalty``), by mode
#: (major, minor): the raised fourth (the leading tone of the dominant), and in minor the raised sixth
#: (melodic minor): Bach's secondary dominants (his raised fourth: 1.15% of notes; the fully penalized
#: sampler's 0.21%, the classifier's second most telling feature).  Measured in benchmarks/RESULTS.md.
CHROMATIC_RELIEF: dict[bool, tuple[int, ...]] = {False: (6,), True: (6, 9)}

#: The degree penalized times ``SampleOptions.seventh_penalty``, by mode: the lowered seventh in
#: major (the seventh of V7/IV), the natural seventh in minor (outside the harmonic minor scale).
SEVENTH: dict[bool, tuple[int, ...]] = {False: (10,), True: (10,)}


#: log(Bach's share / the sampler's share) of the notes on each degree (semitones above the tonic), by
#: mode (major, minor), both read in music21's key of the first 16 bars: Bach's 294 training chorales
#: of ``bach-chorales`` (not the test split), the sampler's default of this commit's parent (best of 4,
#: 3 x 100 pieces, ``benchmarks/results/chorale-sampler-sweep-auc-keys-as-test.json``).  The sampler
#: leans to the subdominant side (major: the fourth and sixth degrees 11.0% / 12.0% of notes, Bach
#: 9.6% / 11.0%; the fifth 17.4% against 19.4%; minor: the third and sixth 16.1% / 8.5% against 14.4% /
#: 6.6%) and writes a third to a fifth of Bach's chromatic notes (the soft key).
DEGREE_CALIBRATION: dict[bool, tuple[float, ...]] = {
    False: (0.04, 1.22, 0.09, 0.23, -0.10, -0.13, 0.15, 0.11, -0.10, -0.09, 0.87, -0.13),
    True: (-0.04, 0.35, 0.02, -0.11, 1.72, -0.04, 1.11, 0.02, -0.26, 0.39, 0.21, 0.02),
}


#: :data:`DEGREE_CALIBRATION` refitted for the sampler with the motion odds on (``SampleOptions.motion_odds``
#: 1.0 on the beats, ``motion_beats``; the first table's sampler had none): two steps of a fixed-point fit,
#: each adding log(Bach's share / the sampler's) of the notes on each degree to the table in use, the
#: sampler's from 100 x 4 candidates (every one counted, seed 9003; ``benchmarks/chorale_degrees.py``),
#: Bach's from his 294 training chorales (not the test split).  The first step from :data:`DEGREE_CALIBRATION`
#: with the motion odds on every note: the fifth degree 17.6% of the notes in major (Bach 19.4%), the third
#: 15.1% (14.2%); in minor the fifth 17.3% (18.7%), the minor sixth 8.1% (6.6%); the second (on the beats,
#: ``benchmarks/results/chorale-degrees-motion.json``): 17.7 / 15.2% and 17.9 / 7.0%.  With the first table
#: instead, music21 heard the chosen key in 89-92% of the motion sampler's pieces (best of 4); with this 98.6%.
DEGREE_CALIBRATION_MOTION: dict[bool, tuple[float, ...]] = {
    False: (0.11, 1.52, 0.11, 0.57, -0.22, -0.18, 0.12, 0.30, -0.25, -0.23, 0.77, -0.27),
    True: (-0.04, 0.15, 0.10, -0.24, 1.63, -0.12, 1.11, 0.15, -0.52, 0.44, 0.24, 0.35),
}


def key_offsets(is_pitch: np.ndarray, pcs: np.ndarray, key_index: int, key_bias: float, raised_penalty: float,
                seventh_penalty: float = 1.0, degree_odds: float | None = None, motion: bool = False) -> np.ndarray:
    """(V,) float32: ``-key_bias`` on the pitch tokens outside the key's scale, less on the relieved degrees.

    In minor the scale is the harmonic minor: with the plain minor scale (both sevenths) the model
    under-used the leading tone (G# 1.6% of A minor's note time, G 15.4%; Bach's minor chorales moved
    to A minor: 3.9% and 9.3%) and music21 heard 14 of 24 "A minor" pieces as C major (seed 5).  With
    it: 3.0% and 9.5%, and 3 of 24.
    """
    minor = bool(key_index % 2)
    tonic = key_index // 2

    def degrees(steps: tuple[int, ...] | list[int]) -> np.ndarray:
        return is_pitch & np.isin(pcs, [(tonic + s) % 12 for s in steps])

    bias = np.where(is_pitch & ~degrees(list(HARMONIC_MINOR_SCALE if minor else MAJOR_SCALE)), -float(key_bias), 0.0)
    bias = np.where(degrees(CHROMATIC_RELIEF[minor]), bias * raised_penalty, bias)
    bias = np.where(degrees(SEVENTH[minor]), bias * seventh_penalty, bias)
    if degree_odds is not None:  # times the calibration's strength
        table = (DEGREE_CALIBRATION_MOTION if motion else DEGREE_CALIBRATION)[minor]
        bias = bias + np.where(is_pitch, np.asarray(table)[(pcs - tonic) % 12] * degree_odds, 0.0)
    return bias.astype(np.float32)


def fourth_pc_offsets(sounding_ok: np.ndarray, pcs: np.ndarray, above: set[int], odds: float) -> np.ndarray | None:
    """(V,) offsets ``log(odds)`` on the notes that add a fourth pitch class to the three ``above``, else None.

    ``pcs`` (V,) holds each token's pitch class, 0-11.

    Bach's test chorales sound four pitch classes on 14.6% of their beats (he leaves out the fifth of
    a seventh chord, and passing notes fall between beats); the sampler at the model's odds on 20%.
    """
    if len(above) != 3:
        return None
    taken = np.zeros(12, dtype=bool)  # pitch class -> sounding above (``pcs`` are 0-11: a lookup, not np.isin)
    taken[list(above)] = True
    return np.where(sounding_ok & ~taken[pcs], math.log(odds), 0.0).astype(np.float32)


def clash_offsets(strike_ok: np.ndarray, pcs: np.ndarray, struck: int, odds: float) -> np.ndarray | None:
    """(V,) offsets ``log(odds)`` on the new notes a semitone from a pitch class in ``struck``, else None.

    ``struck`` holds the pitch classes the voices above strike at this step, a bit each (bit ``pc``);
    ``strike_ok`` (V,) the tokens that strike a note, ``pcs`` (V,) each token's pitch class, 0-11.  A
    held note is left alone: a suspension is prepared, and Bach's clashes on a beat against a held note
    (1.8 % of the test chorales' beats) outnumber the sampler's (1.4 %); his clashes struck together
    (2.1 %, 0.9 % in the validation split) are half the sampler's at the model's odds (4.0 %).
    """
    if not struck:
        return None
    near = np.zeros(12, dtype=bool)  # pitch class -> a semitone from one struck above
    for pc in range(12):
        if struck >> pc & 1:
            near[(pc + 1) % 12] = near[(pc - 1) % 12] = True
    return np.where(strike_ok & near[pcs], math.log(odds), 0.0).astype(np.float32)


def beat_offsets(sounding_ok: np.ndarray, strike_ok: np.ndarray, pcs: np.ndarray, above: set[int],
                 four: float | None, struck: int, clash: float | None,
                 sixteenth: float | None = None) -> np.ndarray | None:
    """(V,) offsets on a beat, or None.

    :func:`fourth_pc_offsets` (``four``, the bass) plus :func:`clash_offsets`, plus log(``sixteenth``) on the new
    notes (the voice struck at the 16th before: ``SampleOptions.sixteenth_odds``).
    """
    extra = fourth_pc_offsets(sounding_ok, pcs, above, four) if four else None
    if struck and clash and (c := clash_offsets(strike_ok, pcs, struck, clash)) is not None:
        extra = c if extra is None else extra + c
    if sixteenth:
        after = np.where(strike_ok, math.log(sixteenth), 0.0).astype(np.float32)
        extra = after if extra is None else extra + after
    return extra


#: log-odds offsets of a new note in each voice (soprano, alto, tenor, bass) between the beats of a quarter-note beat:
#: at its second 16th, at its third (an eighth), at its fourth after a note struck at the third (two 16ths) and at
#: its fourth after none (the 16th after a dotted eighth): :func:`onset_offsets`, ``SampleOptions.onset_odds``.
#: Two steps of a fixed-point fit (``benchmarks/chorale_onsets.py -n 384 --fit``, 384 pieces of 16 bars, one draw
#: each, ``results/chorale-onsets-fit-step*.json``), each adding logit(Bach's rate) - logit(the sampler's) of the
#: voice's chances there that strike a note, Bach's from his training chorales (``bach-chorales`` train split), where
#: both sides strike 20 notes there or more.  Rates (S / A / T / B, % of the chances): the eighth, Bach 9.2 / 22.3 /
#: 23.2 / 27.1, the model's odds 5.4 / 17.2 / 16.2 / 20.7, this table's 9.5 / 21.8 / 23.2 / 26.8; two 16ths after it,
#: Bach 5.1 / 7.2 / 7.3 / 0.7, the model's 1.4 / 2.6 / 3.8 / 0.3, this table's 4.6 / 7.7 / 7.0 / 0.8; the 16th after a
#: dotted eighth, Bach 0.23 / 0.15 / 0.58 / 0.01, the model's 0.17 / 0.32 / 0.52 / 0.09, this table's 0.25 / 0.17 /
#: 0.67 / 0.16.
ONSET_CALIBRATION: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.65, 1.46, 0.48), (0.0, 0.38, 1.2, -0.77), (0.43, 0.53, 0.8, 0.19), (0.0, 0.45, 0.52, 0.0))


def onset_offsets(strike_ok: np.ndarray, voice: int, entry: int, strength: float, sixteenth: float | None = None,
                  table: tuple[tuple[float, ...], ...] | None = None) -> np.ndarray | None:
    """(V,) offsets on the new notes of ``voice`` at ``entry`` (0-3: :data:`ONSET_CALIBRATION`'s), else None.

    Plus log(``sixteenth``) where the voice struck at the 16th before (``SampleOptions.sixteenth_odds``).
    """
    offset = strength * (ONSET_CALIBRATION if table is None else table)[voice][entry]
    offset += math.log(sixteenth) if sixteenth else 0.0
    return None if not offset else np.where(strike_ok, offset, 0.0).astype(np.float32)


#: The melodic motions of a voice's note from the one before (``benchmarks/chorale_figures.py``'s
#: ``MOTIONS``): a repeat, a step (<= 2 semitones) up / down, a leap up / down.
MOTIONS = ("R", "S+", "S-", "L+", "L-")

#: log(Bach's share / the sampler's share) of a voice's next motion (columns: S+, S-, L+, L-) after
#: its last (rows: :data:`MOTIONS`), among the motions that move (a repeat is a kind of its own,
#: ``SampleOptions.repeats``: its odds are left alone), Laplace-smoothed (+1 on each count).  Counted
#: over the notes of each voice: Bach's 294 training chorales of ``bach-chorales`` (not the test split)
#: against 200 candidates of the sampler of this commit's parent (best of 4, seed 9001, top-p 0.95,
#: 16 bars; ``benchmarks/results/motion-tried-table.json``, ``benchmarks/chorale_motion.py``).  Bach
#: runs on in scales, the sampler turns back: after a step up Bach steps on up 45% of the time (the
#: sampler 31%) and back 23% (38%); after a step down on down 50% (36%).
MOTION_CALIBRATION: tuple[tuple[float, float, float, float], ...] = (
    (-0.20, 0.10, 0.22, -0.06),  # after a repeat
    (0.35, -0.54, -0.41, 0.33),  # after a step up
    (-0.43, 0.31, 0.06, -0.18),  # after a step down
    (-0.13, 0.16, 0.05, -0.18),  # after a leap up
    (0.03, -0.52, 0.16, 0.03),  # after a leap down
)


def motion_of(interval: int) -> int:
    """The index in :data:`MOTIONS` of a melodic interval (semitones, the new note less the last)."""
    return 0 if interval == 0 else (1 if abs(interval) <= 2 else 3) + (interval < 0)


def cached_sum(sums: dict[tuple[int, ...], tuple[np.ndarray | None, np.ndarray]], base: np.ndarray | None,
               key: tuple[int, ...], total: Callable[[np.ndarray | None], np.ndarray]) -> np.ndarray:
    """``total(base)``, read-only, looked up in ``sums`` by ``base``'s identity and ``key``.

    ``base`` is kept beside its sum, so its id stays its own while the entry lives; past 20,000 entries (an
    endless stream) the table starts afresh.
    """
    k = (0 if base is None else id(base), *key)
    hit = sums.get(k)
    if hit is None or hit[0] is not base:
        if len(sums) > 20_000:
            sums.clear()
        out = total(base)
        out.flags.writeable = False
        hit = sums[k] = (base, out)
    return hit[1]


#: log(Bach's share / the sampler's share) of the bass's moves to a new pitch struck on a beat, by mode (major, minor),
#: the degree of its last note (rows, semitones above the tonic, struck whenever) and the new note's (columns), read
#: in each piece's key: Bach's 277 training chorales of ``bach-chorales`` against 192 pieces of the sampler of this
#: commit's parent (one draw, 16 bars), Laplace-smoothed, where both rows hold 30 moves and the cell 10 (else 0),
#: clipped to +-1.5 (``benchmarks/chorale_bass.py --fit``, ``results/chorale-bass-fit-step0.json``).  Bach's bass
#: moves by a semitone in 26% of its moves (the sampler's 19%), by a third in 6% (11%), by a fourth or fifth in 28%
#: (32%), the leading tone to the tonic in 4.2% (2.5%).  Applied by :class:`MotionOdds` (``SampleOptions.bass_odds``).
BASS_CALIBRATION: tuple[tuple[tuple[float, ...], ...], ...] = (
    (  # major: rows the last note's degree 0-11, columns the new note's
        (0, 1.25, 0.12, 0, 0.01, 0.11, -0.23, -0.44, 1.5, -0.47, 0.53, 0.21),
        (0, 0, 0.3, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (-0.31, -0.2, 0, 0.7, 0.03, 0.48, 0, 0.07, 0.52, 0.09, 0, 0.15),
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (-0.76, 0, -0.03, 0, 0, 0.29, -0.51, -1.42, 0, 0.11, 0, 0),
        (-0.2, 0, -0.72, 0, -0.13, 0, 1.41, 0.11, -0.87, -0.15, 0.61, 0.03),
        (0, 0, 0, 0, -0.95, 0, 0, -0.02, 1.5, 0, 0, 0),
        (0.01, -0.57, -0.01, 0, -0.57, -0.03, -0.25, 0, 1.5, 0.21, 0, 0.62),
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0.31, 0, 0),
        (-0.8, 0, -0.09, 0, -0.13, -0.16, -0.38, 0.04, -0.41, 0, 0.64, 0.45),
        (0.25, 0, 0, 0, 0, -1.11, 0, -0.99, 0, 0.4, 0, 0.48),
        (0.22, -0.2, 0, 0, -0.98, 0, 0, -1.05, 0, 0, 0, 0),
    ),
    (  # minor: rows the last note's degree 0-11, columns the new note's
        (0, 1, 0.34, -0.32, 0.53, 0.09, -0.16, -0.35, -0.39, -0.21, 0.32, 0.12),
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (-0.34, 0, 0, 0.5, -0.1, 0, 0, -0.15, 0, 0, -0.66, 0),
        (-0.46, 0.84, 0.41, 0, 0.57, 0.13, 0, -1.05, 0.27, 0.39, -0.8, 0.78),
        (0, 0, 0, 0, 0, 0.45, 0, 0, 0, 0, 0, 0),
        (-0.56, 0, -0.75, 0, 0.4, 0, 0.26, 0.23, 0, 0, -0.21, -0.85),
        (0, 0, 0, 0, 0, 0, 0, 0.36, 0, 0, 0, 0),
        (-0.2, 0, 0.02, 0.15, 0, 0.15, -0.85, 0, 0.3, -0.99, -0.2, 0.81),
        (-1.5, 1.5, 0.15, -0.34, 0.91, -0.5, 0, 0.29, 0, -0.2, -0.19, -0.49),
        (0, 0, 0, 0, 0, 0, 0, -0.44, 0, 0, 0.02, 0.8),
        (0.09, 0, 0, 0.08, 0, -0.6, -1.04, -1.5, 0.23, 0.17, 0, 0.14),
        (0.29, 0, 0, 0, 0, 0, 0, -1.5, 0, 0, 0, 0),
    ),
)


class MotionOdds:
    """Per voice, the offsets of its new notes by its last melodic motion (``SampleOptions.motion_odds``).

    :meth:`struck` follows each voice's notes; :meth:`bias` adds, to the offsets ``base`` (V,) or None,
    ``strength * MOTION_CALIBRATION[m1][m2]`` on each new pitch that moves (m1 the voice's last motion,
    m2 the motion to that pitch): none before a voice's second note, none on holds, rests or a repeat.
    With ``beat`` (``SampleOptions.motion_beats``) only the notes struck on a beat are reweighted (their
    motion from the voice's last note, whenever it was struck): the passing notes between are the model's.
    The sums are looked up by (``base``, last pitch, m1): the grammar asks once per token and stream; the
    streams of a run share the tables (``shared``: a ``GridTables``'s, the same strength and codec).
    Under the sampler's own odds the offsets keep the new notes' total odds (they reweight the motions
    by Bach's share over the sampler's), so the kinds' odds stay about the model's.  With ``bass`` (a strength,
    ``SampleOptions.bass_odds``) the bass's new notes also take :data:`BASS_CALIBRATION`'s row of its last note's
    degree (:attr:`minor`, set at the Key token, says the mode).
    """

    def __init__(self, is_pitch: np.ndarray, pitch_of: np.ndarray, strength: float, beat: int = 0,
                 shared: tuple[dict[Any, Any], dict[Any, Any]] | None = None, bass: float | None = None,
                 voices: int = 4) -> None:
        self._is_pitch, self._pitch, self._strength = is_pitch, pitch_of.astype(np.int64), float(strength)
        self._beat = beat  # > 0: only the notes struck at grid steps that are multiples of it (the beats)
        self.last, self.motion = [-1] * voices, [-1] * voices  # each voice's last pitch and motion (-1: none)
        self._bass, self._bass_voice = bass, voices - 1  # BASS_CALIBRATION's strength (None: off), the bass
        self.minor = False  # the mode (set at the Key token): C major / A minor, the bass's degrees' tonic
        self._sums: dict[tuple[int, ...], tuple[np.ndarray | None, np.ndarray]]
        self._offsets: dict[tuple[int, int, int], np.ndarray]
        self._sums, self._offsets = ({}, {}) if shared is None else shared

    def fork(self) -> MotionOdds:
        """A copy for a stream that goes on alone: its own last pitches and motions, the tables shared."""
        new = copy.copy(self)
        new.last, new.motion = list(self.last), list(self.motion)
        return new

    def struck(self, voice: int, pitch: int) -> None:
        """A new note of ``voice`` (a repeat counts: a voice's motions are from note to note)."""
        if (last := self.last[voice]) >= 0:
            self.motion[voice] = motion_of(pitch - last)
        self.last[voice] = pitch

    def offsets(self, last: int, m1: int, bass: int = -1) -> np.ndarray:
        """(V,) float32, read-only: the offsets of the new notes after ``last``, the voice's motion ``m1``.

        ``bass`` 0 / 1 (major / minor; -1: not the bass): plus the bass's :data:`BASS_CALIBRATION` row of
        ``last``'s degree, times its strength (the tonic C / A: the model writes in C major / A minor).
        """
        hit = self._offsets.get((last, m1, bass))
        if hit is None:
            d = self._pitch - last
            m2 = np.where(d == 0, 0, np.where(np.abs(d) <= 2, 1, 3) + (d < 0))
            off = (np.array((0.0, *MOTION_CALIBRATION[m1])) * self._strength)[m2]
            if bass >= 0 and self._bass:
                tonic = 9 if bass else 0
                row = np.array(BASS_CALIBRATION[bass][(last - tonic) % 12]) * self._bass
                off = off + np.where(d == 0, 0.0, row[(self._pitch - tonic) % 12])  # (a repeat: its own kind)
            hit = self._offsets[last, m1, bass] = np.where(self._is_pitch, off, 0.0).astype(np.float32)
            hit.flags.writeable = False
        return hit

    def bias(self, voice: int, base: np.ndarray | None, pos: int = 0) -> np.ndarray | None:
        """``base`` with the motion offsets of ``voice`` added at grid step ``pos`` of the bar.

        ``base`` itself before the voice's second note, and off the beat when made with ``beat``.
        """
        m1 = self.motion[voice]
        if m1 < 0 or (self._beat and pos % self._beat):
            return base
        last, bass = self.last[voice], int(self.minor) if voice == self._bass_voice and self._bass else -1

        def total(base: np.ndarray | None) -> np.ndarray:
            extra = self.offsets(last, m1, bass)
            return extra if base is None else base + extra

        return cached_sum(self._sums, base, (last, m1, bass), total)


#: log-odds offsets of a fermata's onset on a beat, by the beats since the last fermata's onset (the piece's start
#: for the first; the last entry for any longer phrase): :class:`PhraseOdds`, ``SampleOptions.phrase_odds``.
#: Two steps of a fixed-point fit (``benchmarks/chorale_phrases.py --fit``, 192 pieces of 16 bars, one draw each,
#: ``results/chorale-phrases-fit-step*.json``), each adding logit(Bach's hazard) - logit(the sampler's) per length,
#: Bach's from his training chorales (``bach-chorales`` train split).  Phrases of 8 beats: Bach 41.9 %, the
#: sampler at the model's odds 12.4 %, after step 1 29.1 %, after step 2 39.2 %; 6 to 10 beats 83.0 / 41.8 / 67.3 /
#: 79.4 %.
PHRASE_CALIBRATION: tuple[float, ...] = (
    0.0, -0.57, -4.0, -3.51, -1.74, -2.91, -0.58, 0.4, 2.0, 1.39, 2.56, -0.54, 3.48, -3.12,
    2.9, 2.9, 2.9, 2.9, 2.9, 2.9, 2.9, 2.9, 2.9, 2.9, 2.9)


class PhraseOdds:
    """A fermata's odds by the length of the phrase it would end (``SampleOptions.phrase_odds``).

    At a step on a beat where a new fermata may start (not the step after one: a fermata held on is the
    model's), the ``Fermata`` token's logit gains ``strength * table[k]``, ``k`` the beats since the last
    fermata's onset (from the piece's first step for the first phrase).  :meth:`fermata` follows the
    fermatas written.  The sums are looked up by (``base``, ``k``), in ``sums`` when given (shared by the streams
    of a run: the same table, strength and codec).
    """

    def __init__(self, fermata_id: int, size: int, beat: int, strength: float,
                 table: tuple[float, ...] | None = None, sums: dict[Any, Any] | None = None) -> None:
        self._id, self._size, self._beat = fermata_id, size, beat
        self._offsets = np.asarray(PHRASE_CALIBRATION if table is None else table, dtype=np.float32) * strength
        same = self._offsets == self._offsets[-1]  # the longest phrases share one offset: one sum for them all
        tail = len(same) if same.all() else int(np.argmin(same[::-1]))  # entries equal to the last, at the end
        self._offsets = self._offsets[: len(same) - tail + 1]
        self.start, self.last = 0, -2  # the phrase's first step (the last fermata's onset); the last fermata's step
        self._sums: dict[tuple[int, ...], tuple[np.ndarray | None, np.ndarray]] = {} if sums is None else sums

    def fermata(self, step: int) -> None:
        """A ``Fermata`` token at grid step ``step``: a new one (not held on from the step before) starts a phrase."""
        if step != self.last + 1:
            self.start = step
        self.last = step

    def bias(self, base: np.ndarray | None, step: int, pos: int) -> np.ndarray | None:
        """``base`` with the fermata's offset at grid step ``step`` (``pos`` in its bar); ``base`` if none applies."""
        if pos % self._beat or step == self.last + 1 or step <= self.start:
            return base
        k = min((step - self.start) // self._beat, len(self._offsets) - 1)

        def total(base: np.ndarray | None) -> np.ndarray:
            out = np.zeros(self._size, np.float32) if base is None else base.copy()
            out[self._id] += self._offsets[k]
            return out

        return cached_sum(self._sums, base, (k,), total)


__all__ = ["CHROMATIC_RELIEF", "PHRASE_CALIBRATION", "PhraseOdds", "DEGREE_CALIBRATION", "DEGREE_CALIBRATION_MOTION",
           "MOTIONS", "MOTION_CALIBRATION", "ONSET_CALIBRATION", "SEVENTH", "MotionOdds", "beat_offsets",
           "clash_offsets", "fourth_pc_offsets", "key_offsets", "motion_of", "onset_offsets"]
