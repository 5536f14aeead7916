"""Chord templates and their Roman numerals in RomanText spelling (no music21).

A chord is a root pitch class and a quality (:data:`QUALITIES`: triads, seventh chords and the
French sixth).  :func:`roman_figure` names it in a key as analysts write RomanText, the way
music21's ``roman.RomanNumeral`` reads it back (tests check every case): diatonic numerals (in
minor ``VI``/``VII`` on the lowered and ``vi``/``viio`` on the raised sixth and seventh degree),
secondary dominants and leading-tone chords (``V7/V``, ``viio7/V``), the Neapolitan (``N6``),
augmented sixths (``It6``, ``Fr43``, ``Ger65``) and other chromatic chords with accidentals
(``bVI``, ``bVII``).  An applied chord names its target by the target's usual triad (in minor
``V/iv``, ``viio7/iv``); a minor key's major tonic triad is ``V/iv`` here, and ``I`` (a Picardy
third, :func:`picardy_figure`) where its context says so.  Inversions: ``6``, ``64``; ``7``, ``65``, ``43``, ``42``.
:func:`chord_prior` says how usual a chord is in a key (0 for the diatonic triads).
"""

from __future__ import annotations

import functools

# quality -> intervals above the root (the chord's members in order: root, third, fifth, seventh)
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "dom7": (0, 4, 7, 10),
    "min7": (0, 3, 7, 10),
    "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
    "maj7": (0, 4, 7, 11),
    "fr": (0, 4, 6, 10),  # French sixth: root = the lowered sixth degree
}
QUALITY_NAMES = tuple(QUALITIES)
SYMBOL_SUFFIX = {
    "maj": "",
    "min": "m",
    "dim": "dim",
    "aug": "aug",
    "dom7": "7",
    "min7": "m7",
    "hdim7": "m7b5",
    "dim7": "dim7",
    "maj7": "maj7",
    "fr": "7b5",
}
_TRIAD_INV = ("", "6", "64")
_SEVENTH_INV = ("7", "65", "43", "42")
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII")

# diatonic chords: mode -> {(root relative to the tonic, quality)}
_DIATONIC: dict[str, dict[tuple[int, str], float]] = {
    "major": {
        (0, "maj"): 0.0, (2, "min"): 0.0, (4, "min"): 0.0, (5, "maj"): 0.0, (7, "maj"): 0.0,
        (9, "min"): 0.0, (11, "dim"): 0.0, (7, "dom7"): 0.0, (2, "min7"): 0.0, (11, "hdim7"): 0.0,
        (0, "maj7"): -0.5, (4, "min7"): -0.5, (5, "maj7"): -0.5, (9, "min7"): -0.5,
        (11, "dim7"): -0.2,
    },
    "minor": {
        (0, "min"): 0.0, (2, "dim"): 0.0, (3, "maj"): 0.0, (5, "min"): 0.0, (7, "maj"): 0.0,
        (8, "maj"): 0.0, (10, "maj"): -0.1, (11, "dim"): 0.0, (7, "min"): -0.3, (5, "maj"): -0.3,
        (7, "dom7"): 0.0, (2, "hdim7"): 0.0, (11, "dim7"): 0.0, (5, "min7"): -0.5,
        (0, "min7"): -0.5, (3, "maj7"): -0.5, (8, "maj7"): -0.5, (3, "aug"): -0.6,
    },
}  # fmt: skip
SECONDARY_PRIOR = -0.3
CHROMATIC_PRIOR = -0.8


def _degree(rel: int, mode: str, upper: bool) -> tuple[int, str]:
    """(scale degree 1-7, accidental) of a root ``rel`` semitones above the tonic."""
    if mode == "minor":
        # music21 reads VI/VII as the lowered, vi/vii as the raised sixth and seventh degrees
        table = {0: (1, ""), 1: (2, "b"), 2: (2, ""), 3: (3, ""), 4: (3, "#"), 5: (4, ""),
                 6: (4, "#"), 7: (5, ""), 8: (6, "" if upper else "b"),
                 9: (6, "#" if upper else ""), 10: (7, "" if upper else "b"),
                 11: (7, "#" if upper else "")}  # fmt: skip
    else:
        table = {0: (1, ""), 1: (2, "b"), 2: (2, ""), 3: (3, "b"), 4: (3, ""), 5: (4, ""),
                 6: (4, "#"), 7: (5, ""), 8: (6, "b"), 9: (6, ""), 10: (7, "b"), 11: (7, "")}  # fmt: skip
    return table[rel % 12]


def _numeral(rel: int, quality: str, mode: str) -> str:
    """The numeral without inversion: ``"viio"``, ``"bVI"``, ``"iiø"``, ``"III+"``."""
    upper = quality in ("maj", "aug", "dom7", "maj7")
    degree, acc = _degree(rel, mode, upper)
    name = _ROMAN[degree - 1]
    name = name if upper else name.lower()
    suffix = {"dim": "o", "dim7": "o", "hdim7": "ø", "aug": "+"}.get(quality, "")
    return acc + name + suffix


def _inversion(quality: str, bass_member: int) -> str:
    if len(QUALITIES[quality]) == 3:
        return _TRIAD_INV[min(bass_member, 2)]
    return _SEVENTH_INV[min(bass_member, 3)]


def _member(quality: str, rel_bass_to_root: int) -> int:
    ivs = QUALITIES[quality]
    return ivs.index(rel_bass_to_root) if rel_bass_to_root in ivs else 0


@functools.cache
def roman_figure(rel_root: int, quality: str, rel_bass: int, mode: str) -> str:
    """The RomanText figure of a chord in a key, all pitch classes relative to the tonic.

    >>> roman_figure(2, "dom7", 2, "major")
    'V7/V'
    >>> roman_figure(11, "dim7", 2, "minor")
    'viio65'
    """
    rel_root %= 12
    member = _member(quality, (rel_bass - rel_root) % 12)
    inv = _inversion(quality, member)
    if rel_root == 8 and member == 0:  # augmented sixths over the lowered sixth degree
        if quality == "fr":
            return "Fr43"
        if quality == "dom7":
            return "Ger65"
    if quality == "fr":  # elsewhere: named as the dominant seventh it alters
        return roman_figure(rel_root, "dom7", rel_bass, mode)
    if (rel_root, quality) in _DIATONIC[mode]:
        return _numeral(rel_root, quality, mode) + inv
    if rel_root == 1 and quality == "maj":
        return "N6" if member == 1 else "bII" + inv
    target = _secondary_target(rel_root, quality, mode)
    if target is not None:  # named after the target's usual triad: V/iv in minor, not V/IV
        usual, degree = _DIATONIC[mode], target
        tq = max(("maj", "min"), key=lambda q: usual.get((degree, q), -9.0))
        return f"{_applied(quality)}{inv}/{_numeral(target, tq, mode)}"
    if quality in ("dom7", "dim7", "hdim7"):  # applied to a chromatic degree: V7/bVII
        target = (rel_root + (5 if quality == "dom7" else 1)) % 12
        if target == 1 and quality == "dom7":
            return f"V{inv}/N"
        return f"{_applied(quality)}{inv}/{_numeral(target, 'maj', mode)}"
    if quality in ("maj7", "min7"):  # chromatic seventh chords: named by their triad
        triad = "maj" if quality == "maj7" else "min"
        return _numeral(rel_root, triad, mode) + _TRIAD_INV[min(member, 2)]
    return _numeral(rel_root, quality, mode) + inv


def picardy_figure(rel_bass: int) -> str:
    """A minor key's major tonic triad read as its tonic (a Picardy third): ``I``, ``I6``, ``I64``.

    :func:`roman_figure` names that chord ``V/iv`` (out of context it is the dominant of the
    subdominant); :func:`composer.harmony.cadences.picardy_tonics` decides which it is.
    """
    return "I" + _inversion("maj", _member("maj", rel_bass % 12))


def _applied(quality: str) -> str:
    if quality in ("maj", "dom7"):
        return "V"
    return "vii" + ("ø" if quality == "hdim7" else "o")


def _secondary_target(rel_root: int, quality: str, mode: str) -> int | None:
    """The degree a secondary dominant or leading-tone chord leads to, if one fits."""
    if quality in ("maj", "dom7"):
        target = (rel_root + 5) % 12
    elif quality in ("dim", "dim7", "hdim7"):
        target = (rel_root + 1) % 12
    else:
        return None
    diatonic = _DIATONIC[mode]
    if target == 0 or not ((target, "maj") in diatonic or (target, "min") in diatonic):
        return None
    if mode == "minor" and target == 7 and quality in ("dim", "hdim7"):
        return None
    return target


@functools.cache
def chord_prior(rel_root: int, quality: str, mode: str) -> float:
    """How usual a chord is in a key (log scale): 0 diatonic, below 0 secondary or chromatic."""
    rel_root %= 12
    if (rel_root, quality) in _DIATONIC[mode]:
        return _DIATONIC[mode][(rel_root, quality)]
    if quality == "fr" or (quality == "dom7" and rel_root == 8):
        return CHROMATIC_PRIOR - (0.0 if rel_root == 8 else 0.7)
    if _secondary_target(rel_root, quality, mode) is not None:
        return SECONDARY_PRIOR - (0.2 if quality in ("dim", "hdim7") else 0.0)
    if rel_root == 1 and quality == "maj":
        return CHROMATIC_PRIOR
    if quality == "aug":
        return CHROMATIC_PRIOR - 0.7
    return CHROMATIC_PRIOR - (0.2 if len(QUALITIES[quality]) == 4 else 0.0)
