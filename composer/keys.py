"""Keys and scales without music21: names, scales, transposition, key finding.

A key is an index ``k`` in 0..23: tonic pitch class ``k // 2`` and mode
``k % 2`` (0 major, 1 minor).  Key finding is Krumhansl-Schmuckler with the
Krumhansl-Kessler profiles over a duration-weighted pitch-class histogram; it
is used to label corpus pieces (the Key control token).  A primer or a melody is
read by :func:`find_melody_key`, the same profiles less a penalty for notes outside
the key's scale (a few notes hardly shape a profile).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from composer.events import Note

if TYPE_CHECKING:
    import numpy as np

_MAJOR_TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
KEY_NAMES: tuple[str, ...] = tuple(
    name for pc in range(12) for name in (f"{_MAJOR_TONICS[pc]} major", f"{_MINOR_TONICS[pc]} minor")
)

_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_RE = re.compile(
    r"^\s*([A-Ga-g])\s*(#|b|♯|♭|sharp|flat|-|is|es|s)?\s*((?i:major|minor|maj|min|dur|moll)|m|M)?\s*$"
)

# Krumhansl & Kessler (1982) probe-tone profiles.
_KK_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
_KK_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)

#: Pitch-class names for display (one spelling per pitch class, flats for the black keys but F#, C#).
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Scales as semitone steps above the tonic.  Three minors, because three questions are asked:
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor plus the leading tone: what "in key" means
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # MusPy's scale consistency, the built-in live source
HARMONIC_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 11)  # the four-voice sampler's soft key in minor
MINOR_ALL_FORMS = (0, 2, 3, 5, 7, 8, 9, 10, 11)  # natural, harmonic and melodic minor together (analysis)


#: Textbook SATB ranges (MIDI pitches, inclusive): S C4-G5, A G3-D5, T C3-G4, B E2-D4; the analysis
#: counts a note outside them as a fault, and four-voice sampling keeps to them.
SATB_RANGES: dict[str, tuple[int, int]] = {
    "S": (60, 79),
    "A": (55, 74),
    "T": (48, 67),
    "B": (40, 62),
}


def parse_key(text: str) -> int:
    """Parse a key name such as ``"D minor"``, ``"Dm"``, ``"F# major"``, ``"Bb"`` or ``"d"``.

    A bare lower-case letter means minor (music21's convention); a bare
    upper-case letter means major.

    Raises
    ------
    ValueError
        Naming the text and the accepted forms.
    """
    m = _KEY_RE.match(text or "")
    if not m:
        raise ValueError(
            f"unknown key {text!r}: use a tonic and a mode, e.g. 'D minor', 'F# major', 'Bb', 'Em'"
        )
    letter, acc, mode = m.groups()
    pc = _LETTER_PC[letter.upper()]
    if acc in ("#", "♯", "sharp", "is"):
        pc += 1
    elif acc in ("b", "♭", "flat", "-", "es", "s"):
        pc -= 1
    if mode is None:
        minor = letter.islower()
    else:
        minor = mode == "m" or mode.lower() in ("minor", "min", "moll")  # (the words in any case; "M": major)
    return (pc % 12) * 2 + int(minor)


def pitch_name(pitch: int) -> str:
    """Name and octave of a MIDI pitch, e.g. 60 -> ``"C4"``, 70 -> ``"Bb4"``."""
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def key_name(index: int) -> str:
    """Name of key ``index`` (0..23), e.g. ``"G minor"``."""
    if not 0 <= index < 24:
        raise ValueError(f"key index must be in 0..23, got {index}")
    return KEY_NAMES[index]


def scale_pitch_classes(index: int, all_minor_forms: bool = False) -> frozenset[int]:
    """Pitch classes of key ``index``'s scale (minor includes the raised 7th; ``all_minor_forms``: the 6th too)."""
    tonic, minor = divmod(index, 2)
    steps = (MINOR_ALL_FORMS if all_minor_forms else MINOR_SCALE) if minor else MAJOR_SCALE
    return frozenset((tonic + s) % 12 for s in steps)


def key_signature(index: int) -> tuple[int, int]:
    """``(sharps, minor)`` of key ``index`` for a MIDI key-signature event (flats negative).

    The spelling of :data:`KEY_NAMES` decides between enharmonic signatures (Eb minor: 6 flats).
    """
    tonic, minor = divmod(index, 2)
    major_tonic = (tonic + 3) % 12 if minor else tonic
    sharps = (major_tonic * 7) % 12
    if sharps > 6 or (sharps == 6 and "b" in KEY_NAMES[index].split()[0]):
        sharps -= 12
    return sharps, minor


def transpose_key_index(index: int, semitones: int) -> int:
    """Key index moved by ``semitones``."""
    tonic, minor = divmod(index, 2)
    return ((tonic + semitones) % 12) * 2 + minor


def relative_key(key_index: int) -> int:
    """The relative minor of a major key, the relative major of a minor one (same signature)."""
    tonic, minor = divmod(key_index, 2)
    return ((tonic + 3) % 12) * 2 if minor else ((tonic + 9) % 12) * 2 + 1


def pitch_class_histogram(notes: Iterable[Note]) -> np.ndarray:
    """(12,) duration-weighted pitch-class histogram."""
    import numpy as np  # numpy stays out of ``composer --help`` (keys is imported by the config)

    hist = np.zeros(12)
    for n in notes:
        hist[n.pitch % 12] += n.duration
    return hist


def _profile_correlations(hist: np.ndarray) -> list[float]:
    """Pearson correlation of ``hist`` with the Krumhansl-Kessler profile of each key, by key index."""
    import numpy as np

    return [float(np.corrcoef(hist, np.roll(np.array(_KK_MINOR if index % 2 else _KK_MAJOR), index // 2))[0, 1])
            for index in range(24)]


def find_key(notes: Iterable[Note]) -> tuple[int, float]:
    """Krumhansl-Schmuckler key finding.

    Returns
    -------
    (int, float)
        The best key index and its Pearson correlation with the profile
        (-1..1). With no notes, C major and 0.0.
    """
    hist = pitch_class_histogram(notes)
    if hist.sum() <= 0:
        return 0, 0.0
    best, best_r = 0, -2.0
    for index, r in enumerate(_profile_correlations(hist)):
        if r > best_r:
            best, best_r = index, r
    return best, best_r


#: How much a melody key's score loses per share of the melody's note time outside the key's scale.
MELODY_OUT_OF_SCALE = 1.0

#: What a key's score gains, for a whole tune (a melody that ends the piece: ``ends``), when its tonic
#: is the tune's last note: Bach's chorale melodies end on the chorale's tonic in 72 % of the training
#: chorales (the rest mostly on its third or fifth).  Chosen on the 294 training and 34 validation
#: chorales' whole sopranos (the chorale's key = ``find_key`` of its four voices: 244 of 328 right with
#: no gain, 248 at 0.05, 254 at 0.1, 253 at 0.15, 248 at 0.2, 237 at 0.5; at 0.1 train 219 -> 230, validation
#: alone 25 -> 24), then measured once on the 42 test chorales: 35 -> 38 of 42 (``benchmarks/melody_key.py``).
MELODY_FINAL_TONIC = 0.1


def find_melody_key(notes: Iterable[Note], ends: bool = False) -> tuple[int, float]:
    """The key of a melody (or a primer): the best of Krumhansl-Schmuckler's scores less a scale penalty.

    Each key's correlation loses :data:`MELODY_OUT_OF_SCALE` times the share of the note time outside
    its scale (:func:`scale_pitch_classes`).  With ``ends`` (a whole tune, one that ends the piece: a
    melody to harmonize) the keys whose tonic is its last note gain :data:`MELODY_FINAL_TONIC`.

    A few notes hardly shape a profile: ``c d e f g2 g`` correlates best with G major (0.76), whose
    scale has no F; this reads it as C major, whose scale holds every note.  Returns the key index
    and its score (C major and 0.0 with no notes).
    """
    notes = list(notes)
    hist = pitch_class_histogram(notes)
    if hist.sum() <= 0 or hist.std() == 0:  # no notes, or all twelve alike: no key to tell
        return 0, 0.0
    share = hist / hist.sum()
    # the last note: the one that ends last (of those, the last struck)
    last = max(notes, key=lambda n: (n.start + n.duration, n.start)).pitch % 12 if ends else -1
    best, best_s = 0, -float("inf")
    for index, r in enumerate(_profile_correlations(hist)):
        scale = scale_pitch_classes(index)
        s = r - MELODY_OUT_OF_SCALE * sum(float(share[pc]) for pc in range(12) if pc not in scale)
        s += MELODY_FINAL_TONIC if index // 2 == last else 0.0
        if s > best_s:
            best, best_s = index, s
    return best, float(best_s)
