"""Logit offsets of the four-voice sampler (:mod:`.satb`): the soft key, and odds reweighted in context.

The sampler adds a state's ``bias`` (V,) to the model's logits before it masks and draws; under
typed sampling the odds of each kind (hold, new note, rest, ...) are read after the offsets, so
an offset of ``log(f)`` on a set of tokens multiplies their odds by ``f``.

* :func:`key_offsets`: the soft key (``SampleOptions.key_bias``), sparing some chromatic degrees.
* :func:`fourth_pc_offsets`: a fourth pitch class on a beat at reduced odds
  (``SampleOptions.four_pcs``).
* :data:`DEGREE_CALIBRATION`: new notes on each degree of the mode at the odds that bring the
  sampler's degree shares to Bach's (``SampleOptions.degree_odds``).
"""

from __future__ import annotations

import math

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


def key_offsets(is_pitch: np.ndarray, pcs: np.ndarray, key_index: int, key_bias: float, raised_penalty: float,
                seventh_penalty: float = 1.0, degree_odds: float | None = None) -> np.ndarray:
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
        bias = bias + np.where(is_pitch, np.asarray(DEGREE_CALIBRATION[minor])[(pcs - tonic) % 12] * degree_odds, 0.0)
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


__all__ = ["CHROMATIC_RELIEF", "DEGREE_CALIBRATION", "SEVENTH", "fourth_pc_offsets", "key_offsets"]
