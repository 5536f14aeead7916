"""A learned local-key model: a scorer of the 24 keys per beat, then Viterbi over the beats.

Issue 13, round 14.  For each beat and each candidate key, :func:`features` describes the music
*relative to that key's tonic* (so the model is the same in every key): the beat's pitch-class
shares and those of windows around it, its bass, its chord, the chords of the beats before and
after and the share of each chord in the beats around (roots above the tonic, qualities), V-I
arrivals on the key's tonic on, after and before the beat, and the key the rule path
(:func:`composer.harmony.chords.harmony`'s, round 12) reads there and two beats either side, as
seen from the key.  One weight vector for major keys and
one for minor (:data:`MODEL_FILE`, fit by logistic regression with a softmax over the 24 keys on
expert analyses of Bach chorales: ``benchmarks/train_key_model.py``), a key change costs
the model's change cost in the Viterbi pass (:func:`decode`).  numpy is imported inside the functions.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.harmony.numerals import QUALITY_NAMES

WINDOWS = (0, 1, 2, 4, 8)  # half widths (beats) of the pitch-class windows around each beat
CHORD_CONTEXT = (0, -1, 1)  # beats from the beat whose chord is a feature
CHORD_WINDOWS = (2, 4)  # half widths (beats) of the windows whose chords are counted
RULE_CONTEXT = (0, -2, 2)  # beats from the beat whose rule key is a feature
CADENCE_SPANS = (4, 8)  # beats ahead and behind searched for an arrival on the key's tonic
_Q = len(QUALITY_NAMES)
BLOCK = 256  # beats scored at a time (learned_path)
HALO = 1 + max(*WINDOWS, *CHORD_WINDOWS, *CADENCE_SPANS, *map(abs, CHORD_CONTEXT), *map(abs, RULE_CONTEXT))
N_FEATURES = (12 * len(WINDOWS) + 12 + 12 * _Q * (len(CHORD_CONTEXT) + len(CHORD_WINDOWS))
              + 1 + 2 * len(CADENCE_SPANS) + 24 * len(RULE_CONTEXT))


def _rotate_pcs(x: Any) -> Any:
    """(n, 12) absolute pitch classes -> (n, 12 tonics, 12) relative to each tonic."""
    import numpy as np

    idx = (np.arange(12)[:, None] + np.arange(12)[None, :]) % 12  # [tonic, degree] -> pc
    return x[:, idx]


def _relations(keys: Any) -> Any:
    """(n,) key indices -> (n, 24 candidate keys, 24): one-hot of each key seen from each candidate."""
    import numpy as np

    keys = np.asarray(keys, dtype=int)
    n = len(keys)
    out = np.zeros((n, 24, 24))
    tonic = np.arange(24) % 12
    rel = (keys[:, None] % 12 - tonic[None, :]) % 12 + 12 * (keys[:, None] >= 12)
    out[np.arange(n)[:, None], np.arange(24)[None, :], rel] = 1.0
    return out


def features(
    beat_vectors: Any, bass: Sequence[int], chords: Sequence[int], rule_path: Sequence[int], arrivals: Any
) -> Any:
    """(n beats, 24 keys, :data:`N_FEATURES`) the features of each beat seen from each key.

    Parameters
    ----------
    beat_vectors : array (n, 12)
        Pitch-class durations of each beat.
    bass : sequence of int
        The bass pitch at each beat's start (-1: none).
    chords : sequence of int
        Each beat's chord, a state of :func:`composer.harmony.chords.chord_path`
        (``root * len(QUALITY_NAMES) + quality``).
    rule_path : sequence of int
        The rule path's key of each beat (:data:`~composer.harmony.keyfinding.KEY_NAMES` indices).
    arrivals : array (n, 24) of bool
        V-I arrivals on each key's tonic (:func:`composer.harmony.chords.cadence_bonus` > 0).
    """
    import numpy as np

    v = np.asarray(beat_vectors, dtype=float)
    n = len(v)
    parts = []
    c = np.vstack([np.zeros((1, 12)), np.cumsum(v, axis=0)])
    for w in WINDOWS:
        s = c[np.clip(np.arange(n) + w + 1, 0, n)] - c[np.clip(np.arange(n) - w, 0, n)]
        tot = s.sum(axis=1, keepdims=True)
        parts.append(_rotate_pcs(np.divide(s, tot, out=np.zeros_like(s), where=tot > 1e-9)))
    b = np.zeros((n, 12))
    has = np.asarray(bass, dtype=int) >= 0
    b[has, np.asarray(bass, dtype=int)[has] % 12] = 1.0
    parts.append(_rotate_pcs(b))
    ch = np.asarray(chords, dtype=int)
    idx = np.arange(n)
    root, q = ch // _Q, ch % _Q
    rel = (root[:, None] - np.arange(12)[None, :]) % 12  # (n, tonic): the chord's root above it
    grid = np.zeros((n, 12, 12, _Q))
    grid[idx[:, None], np.arange(12)[None, :], rel, q[:, None]] = 1.0
    one = grid.reshape(n, 12, 12 * _Q)
    for d in CHORD_CONTEXT:  # the chord of the beat, of the beats before and after
        parts.append(one[np.clip(idx + d, 0, n - 1)])
    cum = np.concatenate([np.zeros((1, 12, 12 * _Q)), np.cumsum(one, axis=0)])
    for w in CHORD_WINDOWS:  # the share of each chord in the beats around
        parts.append((cum[np.clip(idx + w + 1, 0, n)] - cum[np.clip(idx - w, 0, n)]) / (2 * w + 1))
    pcs = np.concatenate(parts, axis=2)  # (n, 12 tonics, F_pc): the same for both modes
    pcs = np.concatenate([pcs, pcs], axis=1)  # (n, 24, F_pc)
    arr = np.asarray(arrivals, dtype=float).reshape(n, 24)
    ca = np.vstack([np.zeros((1, 24)), np.cumsum(arr, axis=0)])
    near = [arr]
    for w in CADENCE_SPANS:  # an arrival on the key's tonic in the w beats after, and before
        near.append(ca[np.clip(idx + w + 1, 0, n)] - ca[np.clip(idx + 1, 0, n)] > 0)
        near.append(ca[idx] - ca[np.clip(idx - w, 0, n)] > 0)
    cad = np.stack(near, axis=2).astype(float)
    rp = np.asarray(rule_path, dtype=int)
    rules = [_relations(rp[np.clip(idx + d, 0, n - 1)]) for d in RULE_CONTEXT]
    return np.concatenate([pcs, cad, *rules], axis=2)


def key_scores(feats: Any, weights: Any) -> Any:
    """(n, 24) log-probabilities of the keys per beat: a softmax of ``feats @ weights[mode]``.

    ``weights`` is (2, :data:`N_FEATURES` + 1): major and minor, the last column a bias.
    """
    import numpy as np

    w = np.asarray(weights, dtype=float)
    z = np.concatenate([feats[:, :12] @ w[0, :-1] + w[0, -1], feats[:, 12:] @ w[1, :-1] + w[1, -1]], axis=1)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def decode(scores: Any, change_cost: float) -> list[int]:
    """The key path maximising the summed ``scores`` (n, 24) less ``change_cost`` per key change."""
    import numpy as np

    n = len(scores)
    if n == 0:
        return []
    score = scores[0].copy()
    back = np.zeros((n, 24), dtype=int)
    for i in range(1, n):
        stay = score
        best = int(score.argmax())
        move = score[best] - change_cost
        back[i] = np.where(stay >= move, np.arange(24), best)
        score = np.maximum(stay, move) + scores[i]
    path = [int(score.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i][path[-1]]))
    return path[::-1]


def learned_path(
    beat_vectors: Any,
    bass: Sequence[int],
    chords: Sequence[int],
    rule_path: Sequence[int],
    arrivals: Any,
    weights: Any = None,
    change_cost: float | None = None,
) -> list[int]:
    """The learned key of each beat (the shipped model's weights and change cost unless given)."""
    import numpy as np

    n = len(rule_path)
    if n == 0:
        return []
    if weights is None or change_cost is None:
        shipped = shipped_model()
        weights = shipped[0] if weights is None else weights
        change_cost = shipped[1] if change_cost is None else change_cost
    # scored BLOCK beats at a time, each block's features from its beats and HALO beats either side (all that
    # its windows read), so memory stays bounded (24 keys x N_FEATURES a beat: about 144 KB) on long pieces
    bv, arr = np.asarray(beat_vectors, dtype=float), np.asarray(arrivals).reshape(n, 24)
    scores = []
    for a in range(0, n, BLOCK):
        lo, hi = max(0, a - HALO), min(n, a + BLOCK + HALO)
        f = features(bv[lo:hi], list(bass[lo:hi]), list(chords[lo:hi]), list(rule_path[lo:hi]), arr[lo:hi])
        scores.append(key_scores(f, weights)[a - lo : a - lo + min(BLOCK, n - a)])
    return decode(np.concatenate(scores), change_cost)


# The shipped model: weights and change cost written by benchmarks/train_key_model.py (fit on the 53
# annotated chorales), in key_model.json next to this file.
MODEL_FILE = Path(__file__).with_name("key_model.json")


@functools.lru_cache(maxsize=1)
def shipped_model() -> tuple[Any, float]:
    """(weights (2, N_FEATURES + 1), change cost) from :data:`MODEL_FILE`."""
    import numpy as np

    try:
        data = json.loads(MODEL_FILE.read_text())
        w, cost = np.asarray(data["weights"], dtype=float), float(data["change_cost"])
        if w.shape != (2, N_FEATURES + 1) or not np.isfinite(w).all() or not (np.isfinite(cost) and cost >= 0):
            raise ValueError(f"weights of shape {w.shape}, expected (2, {N_FEATURES + 1}), finite; change cost {cost}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ComposerError(f"{MODEL_FILE}: the learned key model is missing or unreadable ({exc}); reinstall "
                            "composer (or set composer.harmony.chords.LEARNED_KEYS = False)") from None
    return w, cost
