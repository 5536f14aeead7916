"""Key changes read as the analysts read them: pivot chords, and excursions no arrival confirms.

The analysts' new key begins after the pivot chord, which they read in the key it leaves
(``C: I IV | G: V I``, not ``C: I | G: IV...``).  :func:`pivots_in_old_key` moves each change
of the key HMM's path (a key per beat) past up to :data:`PIVOT_BEATS` such beats;
:func:`changes_at_phrase_starts` moves a change made a few beats into a phrase back to its start;
:func:`unconfirmed_excursions` reads a short excursion with no V-I arrival of its own in the
key around it; :func:`predominants_in_new_key` (off) begins a relative minor on its own chords
before its dominant.  numpy is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from composer.harmony.keyfinding import NEW_NOTE_SHARE, new_notes
from composer.harmony.numerals import QUALITIES, QUALITY_NAMES, chord_prior

PIVOT_BEATS = 1  # beats a key change may move past pivots
PIVOT_CHORD_NOTES = False  # a new note blocks a pivot only as a tone of its chord (or the chord before)
PHRASE_START_BEATS = 0  # a key change this many beats after a phrase's start may move back to it (0: off)
PHRASE_ENDS = ("fermata", "long_note", "rest", "cadence")  # the cadences' phrase ends that start a phrase after them
EXCURSION_BEATS = 4  # excursions of at most this many beats need an arrival to keep their key (0: off)
EXCURSION_REPEAT = True  # fold excursions again until none is left (one folded back may leave another)
PREDOMINANT_BEATS = 0  # beats before a change into the relative minor whose chords are its own may join it (0: off)
PREDOMINANT_ALL = False  # the same before a change into any key (its ii, IV, iv, VI, iiø), not only the relative minor
# the new key's chords a change moves back over: (root above the tonic, quality), by mode
PREDOMINANTS = {
    "minor": {(0, "min"), (0, "min7"), (5, "min"), (5, "min7"), (8, "maj"), (8, "maj7"), (2, "dim"), (2, "hdim7")},
    "major": {(2, "min"), (2, "min7"), (5, "maj"), (5, "maj7")},
}

_STATES = [(r, q) for r in range(12) for q in QUALITY_NAMES]  # chords.chord_path's states, in order


def _chord_pcs(state: int) -> Any:
    """(12,) bool: the pitch classes of a chord state."""
    import numpy as np

    root, quality = _STATES[state]
    pcs = np.zeros(12, dtype=bool)
    for iv in QUALITIES[quality]:
        pcs[(root + iv) % 12] = True
    return pcs


def pivots_in_old_key(path: Sequence[int], beat_vectors: Any, beat_chords: Sequence[int]) -> list[int]:
    """``path`` (a key per beat) with each key change moved later past the pivot beats it begins on.

    A beat is a pivot when its chord (a state of :func:`composer.harmony.chords.chord_path`) is
    one of the old key's usual diatonic chords and no note of the new key that the old one lacks
    sounds in it or in the beat before (once the new note has sounded, the new key has begun
    there; with :data:`PIVOT_CHORD_NOTES`, only a new note that is a tone of the beat's chord or
    of the one before counts, not a passing note).  A change is moved past at most
    :data:`PIVOT_BEATS` beats, and not where the new key would then hold no beat of its own.
    """
    import numpy as np

    v = np.asarray(beat_vectors, dtype=float)
    present = v > NEW_NOTE_SHARE * np.maximum(v.sum(axis=1, keepdims=True), 1e-9)
    if PIVOT_CHORD_NOTES:
        chords = np.array([_chord_pcs(c) for c in beat_chords]).reshape(len(beat_chords), 12)
        present = present & (chords | np.vstack([np.zeros((1, 12), dtype=bool), chords[:-1]]))
    table = new_notes()

    def pivot(j: int, old: int, new: int) -> bool:
        if (table[old, new] & (present[j] | present[j - 1])).any():
            return False
        root, quality = _STATES[beat_chords[j]]
        return chord_prior((root - old) % 12, quality, "major" if old < 12 else "minor") >= 0.0

    out = list(path)
    for b in range(1, len(path) - 1):
        old, new = path[b - 1], path[b]
        if old == new:
            continue
        j = b
        while j < b + PIVOT_BEATS and j + 1 < len(path) and path[j + 1] == new and pivot(j, old, new):
            j += 1
        out[b:j] = [old] * (j - b)
    return out


def unconfirmed_excursions(path: Sequence[int], confirmed: Any, max_beats: int) -> list[int]:
    """``path`` (a key per beat) with each short excursion that no arrival confirms read in the key around it.

    An excursion is a run of at most ``max_beats`` beats in one key with the same other key on
    both sides (``C G C``); ``confirmed`` (n beats, 24) is true where a V-I arrival lands on the
    key's tonic (:func:`composer.harmony.chords.cadence_bonus`).  Without such an arrival the
    excursion is a tonicization inside the key around it (``A: V6/vi V7/vi vi`` with no root
    position V-i), which is how the analysts read it.  With :data:`EXCURSION_REPEAT` the
    excursions are folded again until none is left (``C G D G C``: the D beat folded into G
    leaves G an excursion inside C).
    """
    import numpy as np

    conf = np.asarray(confirmed, dtype=bool)
    out = list(path)
    while True:
        now = list(out)
        i = 0
        while i < len(now):
            j = i
            while j + 1 < len(now) and now[j + 1] == now[i]:
                j += 1
            if 0 < i and j + 1 < len(now) and now[i - 1] == now[j + 1] and j + 1 - i <= max_beats:
                if not conf[i : j + 1, now[i]].any():
                    out[i : j + 1] = [now[i - 1]] * (j + 1 - i)
            i = j + 1
        if not EXCURSION_REPEAT or out == now:
            return out


def predominants_in_new_key(path: Sequence[int], beat_chords: Sequence[int], max_beats: int) -> list[int]:
    """``path`` (a key per beat) with a change into the relative minor moved back over its own chords.

    From a major key to its relative minor the two share every note but the new leading tone, so
    the key HMM turns only where that note sounds (``C: ii6 vi | a: V i``); the analysts begin the
    minor key on the chords before its dominant that belong to it (``a: iv6 i V i``): its i, iv,
    VI and iiø (:data:`PREDOMINANTS`).  At most ``max_beats`` beats move; with
    :data:`PREDOMINANT_ALL` a change into any key moves back over its ii, IV, iv, VI or iiø.
    """
    out = list(path)
    for b in range(1, len(path)):
        old, new = path[b - 1], path[b]
        if old == new:
            continue
        relative = old < 12 <= new and (old + 9) % 12 == new % 12
        if not (relative or PREDOMINANT_ALL):
            continue
        chords = PREDOMINANTS["minor" if new >= 12 else "major"]
        j = b
        while j > 0 and b - j < max_beats and path[j - 1] == old:
            root, quality = _STATES[beat_chords[j - 1]]
            if ((root - new) % 12, quality) not in chords:
                break
            j -= 1
        out[j:b] = [new] * (b - j)
    return out


def changes_at_phrase_starts(
    path: Sequence[int], beat_vectors: Any, beat_chords: Sequence[int], ends: Sequence[int], max_beats: int
) -> list[int]:
    """``path`` (a key per beat) with a key change soon after a phrase end moved back to the phrase's start.

    ``ends`` are the beats of phrase-end arrivals (cadences).  The next phrase starts on the
    first beat after the arrival chord (and its held beats); a key change at most ``max_beats``
    beats after that start, the old key holding until it, moves back to the start when every
    beat between holds one of the new key's usual diatonic chords and no note of the old key
    that the new one lacks: the analysts begin the new key with the phrase (``C: ... V ||
    a: iv V i``), where the new note (G#) comes only a few chords in.  A pivot at a phrase's
    start is read in the key it leads to; :func:`pivots_in_old_key` is the rule inside phrases.
    """
    import numpy as np

    v = np.asarray(beat_vectors, dtype=float)
    present = v > NEW_NOTE_SHARE * np.maximum(v.sum(axis=1, keepdims=True), 1e-9)
    table = new_notes()
    n = len(path)
    out = list(path)
    for a in ends:
        s = a + 1
        while s < n and beat_chords[s] == beat_chords[a] and path[s] == path[a]:
            s += 1
        if s >= n or s == 0:
            continue
        old = path[s - 1]
        b = s
        while b < n and path[b] == old:
            b += 1
        if b == s or b >= n or b - s > max_beats:
            continue
        new = path[b]
        if (table[new, old] & present[s:b]).any():
            continue  # a note of the old key only: still the old key
        mode = "major" if new < 12 else "minor"
        if all(chord_prior((_STATES[beat_chords[j]][0] - new) % 12, _STATES[beat_chords[j]][1], mode) >= 0.0
               for j in range(s, b)):
            out[s:b] = [new] * (b - s)
    return out
