"""Each voice's last melodic interval, as an input the SATB grid model reads beside the tokens.

In the grid code (:mod:`composer.voicegrid`) a held note shows its pitch at every step, but the pitch
before it, and so the motion that brought the voice there, lies a whole note's tokens back.  Read on
Bach's own chorales the bundled model expects a voice that has just stepped up to go on up 38 % of
the time, on the very chorales it trained on (Bach: 45 %): it under-learns the line.  A model built
with ``ModelConfig.motion_input`` adds to every voice token's embedding one of a small table's,
indexed by the interval between that voice's last two struck notes (:func:`motion_classes`).

The class is a function of the tokens before it, so training, evaluation and sampling compute it
from the ids alone: :func:`motion_classes` for a sequence read from its start, :class:`MotionTracker`
token by token for streams.  Class 0 is every token that is not a voice's (it adds nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from composer.config import MOTION_CLASSES

CLIP = 12  #: intervals beyond an octave share the octave's class
NONE = 2 * CLIP + 2  #: a voice token before the voice's second struck note
REST = 2 * CLIP + 3  #: a rest
CLASSES = REST + 1  #: 0 (not a voice token), 1 .. 2 * CLIP + 1 (interval + CLIP + 1), NONE, REST
if CLASSES != MOTION_CLASSES:  # the config counts a model's parameters by its own copy of the number
    raise ImportError(f"composer.config.MOTION_CLASSES is {MOTION_CLASSES}, voicemotion.CLASSES {CLASSES}")
#: token kinds in :func:`voice_tables`
OTHER, POS, PITCH, HOLD, SILENT = 0, 1, 2, 3, 4
VOICES = 4


def voice_tables(types: Sequence[str], pitch_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per token id: its kind and its pitch (-1 where none), both int64.

    The kinds are :data:`POS`, :data:`PITCH`, :data:`HOLD`, :data:`SILENT` or :data:`OTHER`, read from the grid
    codec's ``types``; the pitches are its ``pitch_of``.
    """
    kinds = {"Pos": POS, "Pitch": PITCH, "Hold": HOLD, "Rest": SILENT}
    kind = np.array([kinds.get(t, OTHER) for t in types], dtype=np.int64)
    return kind, np.asarray(pitch_of, dtype=np.int64).copy()


class MotionTracker:
    """The motion class of each token fed, per stream (the voices' last two struck pitches kept)."""

    def __init__(self, kind: np.ndarray, pitch: np.ndarray, rows: int = 1) -> None:
        self._kind = [int(k) for k in kind]
        self._pitch = [int(p) for p in pitch]
        self._voice = [0] * rows  # the voice the next voice token of each row belongs to
        self._last = [[-1] * VOICES for _ in range(rows)]
        self._before = [[-1] * VOICES for _ in range(rows)]

    def feed_one(self, row: int, token: int) -> int:
        """The class of ``token`` in stream ``row``, which it then follows."""
        kind = self._kind[token]
        if kind == POS:
            self._voice[row] = 0
            return 0
        v = self._voice[row]
        if kind == OTHER or v >= VOICES:
            return 0
        self._voice[row] = v + 1
        last, before = self._last[row], self._before[row]
        if kind == PITCH:
            before[v], last[v] = last[v], self._pitch[token]
        if kind == SILENT:
            return REST
        if before[v] < 0:
            return NONE
        return max(-CLIP, min(CLIP, last[v] - before[v])) + CLIP + 1

    def feed(self, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
        """One token per stream, (B,) -> (B,) int64 classes."""
        return np.array([self.feed_one(r, int(t)) for r, t in enumerate(tokens)], dtype=np.int64)


def motion_classes(ids: np.ndarray, kind: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """The classes of a (T,) or (B, T) array of ids, each row read from its start (a fresh stream)."""
    arr = np.asarray(ids)
    rows = arr.reshape(1, -1) if arr.ndim == 1 else arr
    tracker = MotionTracker(kind, pitch, len(rows))
    out = np.array([[tracker.feed_one(r, int(t)) for t in row] for r, row in enumerate(rows.tolist())],
                   dtype=np.int64).reshape(rows.shape)
    return out.reshape(arr.shape)
