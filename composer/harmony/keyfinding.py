"""Keys with music21: the global key, local keys by an HMM over the beats, and key names.

Keys come from music21's key finding (Aarden-Essen profiles, the default of
``Stream.analyze('key')``).  Keys are passed around by name (``"F# minor"``,
``"Bb major"``); :func:`m21_key` and :func:`m21_key_name` are the one place
that converts between those names and music21 ``Key`` objects.  music21 is
imported inside the functions.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from composer.events import Note
from composer.harmony.piece import VoicedPiece
from composer.keys import HARMONIC_MINOR_SCALE, MAJOR_SCALE


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
    correlation: float  # of the region's pitch-class content with its key's profile, -1..1


# ---------------------------------------------------------------- key names


def m21_key_name(k: Any) -> str:
    """Our name of a music21 ``Key``: ``"F# minor"``, flats as ``b`` (``"Bb major"``)."""
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"


def m21_key(key_name: str) -> Any:
    """The music21 ``Key`` of a name written by :func:`m21_key_name`."""
    from music21 import key

    tonic, _, mode = key_name.partition(" ")
    return key.Key(tonic.replace("b", "-") if len(tonic) > 1 else tonic, mode)


def short_key_name(key_name: str) -> str:
    """The key as a progression prefix: the tonic, lower case for minor (``"f#"``, ``"A"``)."""
    tonic, _, mode = key_name.partition(" ")
    return tonic.lower() if mode == "minor" else tonic


# ---------------------------------------------------------------- key finding


def key_of_notes(notes: Sequence[Note], t0: float = 0.0, t1: float = float("inf")) -> Any | None:
    """music21's key estimate of the notes sounding in ``[t0, t1)`` (durations clipped).

    music21's key-weight analysis reads only the duration-weighted pitch-class
    distribution, so the stream it gets holds one note per pitch class with
    the summed duration: the same answer as a note per note, in constant time.
    (Not :func:`composer.keys.pitch_class_histogram`: durations here are clipped
    to the window and each rounded to 4 places, as music21 quarter lengths are.)
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


def _in_window(notes: Sequence[Note], starts: Sequence[float], max_dur: float, t0: float, t1: float) -> Sequence[Note]:
    """The notes (sorted by start) that may sound in ``[t0, t1)``."""
    lo = bisect.bisect_left(starts, t0 - max_dur - 1e-6)
    hi = bisect.bisect_left(starts, t1)
    return notes[lo:hi]


def global_key(notes: Sequence[Note]) -> tuple[KeyEstimate, Any]:
    """The key of all ``notes``: our estimate and music21's ``Key``."""
    k = key_of_notes(notes)
    if k is None:  # cannot happen for a non-empty piece
        raise ValueError("no notes to find a key in")
    alts = tuple((m21_key_name(a), float(a.correlationCoefficient)) for a in k.alternateInterpretations[:3])
    est = KeyEstimate(m21_key_name(k), float(k.correlationCoefficient), float(k.tonalCertainty()), alts)
    return est, k


# ---------------------------------------------------------------- local keys

# Temperley-Kostka-Payne key profiles (music21 ``analysis.discrete.TemperleyKostkaPayne``): read
# here as a distribution (each row normalised), the chance that a sounding pitch class is each pc.
KEY_PROFILES = {
    "major": (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
    "minor": (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330),
}
EVIDENCE_WEIGHT = 2.0  # weight of one beat's key log-likelihood (nats per beat) against the costs
MODULATION_PENALTY = 1.0  # Viterbi cost of a key change
DISTANCE_PENALTY = 0.25  # extra cost per step on the circle of fifths between the key signatures
NO_NEW_NOTE_PENALTY = 2.0  # extra cost of a key change with no note of the new key's scale that
# the old key's lacks (the new leading tone, or the new fourth) sounding near it
NEW_NOTE_SPAN = (1, 1)  # beats before and after a change searched for that note (round 12: (1, 2) -> (1, 1))
PICARDY_BEATS = 8  # a piece's last turn to the parallel major whose major third sounds in at most
# this many final beats is its Picardy third, not a key (_picardy)
NEW_NOTE_SHARE = 0.05  # a pitch class sounds in a beat when it fills this share of its sound
_MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
KEY_NAMES = tuple(f"{n} major" for n in _MAJOR_NAMES) + tuple(f"{n} minor" for n in _MINOR_NAMES)


def key_index(key_name: str) -> int:
    """Index in :data:`KEY_NAMES` (0-11 major, 12-23 minor by tonic pitch class) of any name."""
    tonic, _, mode = key_name.partition(" ")
    pcs = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    pc = pcs[tonic[0].upper()] + sum({"#": 1, "b": -1, "-": -1}.get(c, 0) for c in tonic[1:])
    return pc % 12 + (12 if mode == "minor" else 0)


def key_correlations(vectors: Any) -> Any:
    """Pearson correlation of each row of ``vectors`` (n, 12) with the 24 key profiles: (n, 24)."""
    import numpy as np

    prof = np.array([np.roll(KEY_PROFILES[m], t) for m in ("major", "minor") for t in range(12)], dtype=float)
    prof = prof - prof.mean(axis=1, keepdims=True)
    prof /= np.linalg.norm(prof, axis=1, keepdims=True)
    v = np.asarray(vectors, dtype=float)
    v = v - v.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    v = np.divide(v, norms, out=np.zeros_like(v), where=norms > 1e-9)
    return v @ prof.T


def key_log_likelihoods(vectors: Any) -> Any:
    """Key evidence of each row of ``vectors`` (n, 12): (n, 24), 0 for the best key of a row.

    The mean log-probability of the row's sounding time under each key's profile read as a
    distribution (every row weighs the same whatever its number of voices); silent rows are 0.
    """
    import numpy as np

    prof = np.array([np.roll(KEY_PROFILES[m], t) for m in ("major", "minor") for t in range(12)], dtype=float)
    logp = np.log(prof / prof.sum(axis=1, keepdims=True))
    v = np.asarray(vectors, dtype=float)
    tot = v.sum(axis=1, keepdims=True)
    share = np.divide(v, tot, out=np.zeros_like(v), where=tot > 1e-9)
    ll = share @ logp.T
    return ll - ll.max(axis=1, keepdims=True)


def _key_distance() -> Any:
    """(24, 24) steps on the circle of fifths between the key signatures of two keys."""
    import numpy as np

    sig = [(t * 7) % 12 for t in range(12)] + [((t + 3) * 7) % 12 for t in range(12)]
    d = np.array([[min((a - b) % 12, (b - a) % 12) for b in sig] for a in sig], dtype=float)
    return d


def new_notes() -> Any:
    """(24, 24, 12): pitch classes in key k's scale (harmonic minor in minor) and not in key j's."""
    import numpy as np

    scale = np.zeros((24, 12), dtype=bool)
    for k in range(24):
        for step in MAJOR_SCALE if k < 12 else HARMONIC_MINOR_SCALE:
            scale[k, (k + step) % 12] = True
    return scale[None, :, :] & ~scale[:, None, :]


def key_path(
    beat_vectors: Any, half_width: int = 0, bonus: Any = None, weight: float = 1.0
) -> tuple[list[int], Any]:
    """The most likely key of each beat: Viterbi over the beats' key evidence (an HMM).

    Each beat's evidence is :data:`EVIDENCE_WEIGHT` times its key log-likelihood
    (:func:`key_log_likelihoods`); a key change costs :data:`MODULATION_PENALTY` plus
    :data:`DISTANCE_PENALTY` per step between the key signatures, and
    :data:`NO_NEW_NOTE_PENALTY` more unless a note of the new key that the old one lacks
    (G# for C major to A minor, F for G major to C major) sounds within
    :data:`NEW_NOTE_SPAN` beats of the change.  The beats themselves are the evidence (no
    window): the costs alone keep keys from flickering, so a region starts where the music
    turns, not half a window early.

    Parameters
    ----------
    beat_vectors : array (n, 12)
        Pitch-class durations of each beat.
    half_width : int
        0: each beat's own sound; ``w`` > 0: the sound of beats ``i - w .. i + w`` (smoother).
    bonus : array (n, 24) or None
        Extra evidence per beat and key (cadences).
    weight : float
        Scale of the beats' evidence, in (0, 1]: below 1 where chords last longer than a beat
        (:func:`~composer.harmony.chords.evidence_weight`), so a key is weighed per chord.

    Returns
    -------
    (list of key indices, evidence array (n, 24))
    """
    import numpy as np

    v = np.asarray(beat_vectors, dtype=float)
    n = len(v)
    if n == 0:
        return [], np.zeros((0, 24))
    if half_width < 0:
        raise ValueError(f"half_width must be >= 0, got {half_width}")
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"weight must be in (0, 1], got {weight}")
    tot = v.sum(axis=1, keepdims=True)
    present = np.vstack([np.zeros((1, 12)), np.cumsum(v > NEW_NOTE_SHARE * tot, axis=0)])  # (n + 1, 12)
    before, after = NEW_NOTE_SPAN
    near = present[np.clip(np.arange(n) + after + 1, 0, n)] > present[np.clip(np.arange(n) - before, 0, n)]
    if half_width:
        c = np.vstack([np.zeros((1, 12)), np.cumsum(v, axis=0)])
        v = c[np.clip(np.arange(n) + half_width + 1, 0, n)] - c[np.clip(np.arange(n) - half_width, 0, n)]
    evidence = weight * EVIDENCE_WEIGHT * key_log_likelihoods(v)
    emit = evidence + (bonus if bonus is not None else 0.0)
    base = -(MODULATION_PENALTY + DISTANCE_PENALTY * _key_distance())
    new_notes_ = new_notes().astype(float)  # (from, to, 12)
    score = emit[0].copy()
    back = np.zeros((n, 24), dtype=int)
    for i in range(1, n):
        trans = base - NO_NEW_NOTE_PENALTY * ((new_notes_ @ near[i]) == 0)  # (from, to)
        np.fill_diagonal(trans, 0.0)
        cand = score[:, None] + trans
        back[i] = cand.argmax(axis=0)
        score = cand[back[i], np.arange(24)] + emit[i]
    path = [int(score.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i][path[-1]]))
    return _picardy(path[::-1], beat_vectors), evidence


def _picardy(path: list[int], beat_vectors: Any = None) -> list[int]:
    """``path`` with a short final turn to the parallel major (a Picardy third) kept in the minor key.

    Short: :data:`PICARDY_BEATS` at most, counted from the first beat of the turn that sounds
    the major third (``beat_vectors`` given), so a turn that begins on chords the two modes
    share (V, V/V, the minor tonic itself) still ends in its Picardy third.
    """
    j = len(path)
    while j > 0 and path[j - 1] == path[-1]:
        j -= 1
    last = path[-1] if path else -1
    if not (0 < j and 0 <= last < 12 and last + 12 in (path[j - 1], path[0])):
        return path
    first = j
    if beat_vectors is not None:
        import numpy as np

        v = np.asarray(beat_vectors, dtype=float)[j:]
        third = v[:, (last + 4) % 12] > NEW_NOTE_SHARE * np.maximum(v.sum(axis=1), 1e-9)
        first = j + int(third.argmax()) if third.any() else len(path)
    if len(path) - first <= PICARDY_BEATS:
        return path[:j] + [last + 12] * (len(path) - j)
    return path


def key_regions(
    piece: VoicedPiece, beat_starts: Sequence[float], path: Sequence[int], beat_vectors: Any
) -> list[KeyRegion]:
    """Regions of equal key along the beats (``path`` from :func:`key_path`).

    A region's ``correlation`` is that of its whole pitch-class content with its key's profile.
    """
    import numpy as np

    v = np.asarray(beat_vectors, dtype=float)
    regions: list[KeyRegion] = []
    i = 0
    while i < len(path):
        j = i
        while j + 1 < len(path) and path[j + 1] == path[i]:
            j += 1
        t0 = 0.0 if i == 0 else beat_starts[i]
        t1 = piece.end if j + 1 == len(path) else beat_starts[j + 1]
        r = float(key_correlations(v[i : j + 1].sum(axis=0, keepdims=True))[0, path[i]])
        regions.append(
            KeyRegion(
                KEY_NAMES[path[i]],
                piece.locate(t0)[0],
                piece.locate(max(t0, t1 - 1e-3))[0],
                round(t0, 4),
                round(t1, 4),
                round(r, 4),
            )
        )
        i = j + 1
    return regions


def key_at(regions: Sequence[KeyRegion], t: float, default: str) -> str:
    """The local key at beat ``t`` (``default`` when there are no regions)."""
    for r in regions:
        if r.start - 1e-6 <= t < r.end:
            return r.key
    return regions[-1].key if regions else default
