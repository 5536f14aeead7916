"""The LSTM's forward pass in numpy: sampling a trained model without importing torch.

:class:`ArrayLSTM` runs the weights of an :class:`~composer.model.LSTMModel` (as a checkpoint stores
them, read by :func:`composer.checkpoint.load_checkpoint` without torch) one token at a time, in
float32, with the same gate equations as ``torch.nn.LSTM`` (its logits agree with torch's fp32
model to about 1e-5, ``tests/test_inference.py``).  It serves the live player, whose first note
would otherwise wait for torch's import (about 2 s of a 3.5 s cold start, ``benchmarks/RESULTS.md``);
training, evaluation and the batched file sampler stay on torch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np

from composer.config import ModelConfig
from composer.voicemotion import MotionTracker, motion_classes


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in place, as (1 + tanh(x / 2)) / 2: no overflow however saturated a gate is."""
    x *= 0.5
    np.tanh(x, out=x)
    x += 1
    x *= 0.5
    return x


class ArrayLSTM:
    """An LSTM language model over numpy weights: embedding, stacked LSTM layers, linear head.

    The :class:`~composer.generation.stepper.Stepper` interface: :meth:`prime` feeds prefixes and
    :meth:`step` one token per stream, each returning the (B, V) float32 logits of the next token;
    :attr:`state` is the (h, c) pair, each (L, B, H).
    """

    def __init__(self, weights: Mapping[str, np.ndarray], config: ModelConfig,
                 voice_tables: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        h = config.hidden_size
        self.config = config
        self.embed = np.ascontiguousarray(weights["embed.weight"], dtype=np.float32)
        # a motion-input model: the motion table and the codec's voice tables (voicemotion.voice_tables)
        self.motion: np.ndarray | None = None
        self.voice_tables = voice_tables
        self.tracker: MotionTracker | None = None
        if config.motion_input:
            if voice_tables is None:
                raise ValueError("a motion-input model needs the codec's voice tables")
            self.motion = np.ascontiguousarray(weights["motion.weight"], dtype=np.float32)
        # torch's gate order is i, f, g, o; stored here as i, f, o, g, so one sigmoid covers three
        order = np.r_[0 : 2 * h, 3 * h : 4 * h, 2 * h : 3 * h]
        self.w: list[np.ndarray] = []  # (in + H, 4H): one matmul per layer and step
        self.w_ih: list[np.ndarray] = []  # its first rows (in, 4H), for whole prefixes
        self.w_hh: list[np.ndarray] = []  # its last H rows (H, 4H)
        self.b: list[np.ndarray] = []  # (4H,) the two biases summed
        for k in range(config.num_layers):
            ih = np.asarray(weights[f"lstm.weight_ih_l{k}"], dtype=np.float32)[order]
            hh = np.asarray(weights[f"lstm.weight_hh_l{k}"], dtype=np.float32)[order]
            self.w.append(np.ascontiguousarray(np.concatenate([ih, hh], 1).T))
            self.w_ih.append(self.w[-1][: ih.shape[1]])  # views: the weights are held once
            self.w_hh.append(self.w[-1][ih.shape[1] :])
            bias = np.asarray(weights[f"lstm.bias_ih_l{k}"], np.float32) + weights[f"lstm.bias_hh_l{k}"]
            self.b.append(np.asarray(bias, np.float32)[order])
        head = weights["embed.weight"] if config.tie_weights else weights["head.weight"]
        self.head = np.ascontiguousarray(np.asarray(head, dtype=np.float32).T)  # (H, V)
        self.head_bias = np.asarray(weights["head.bias"], dtype=np.float32)
        self.state: tuple[np.ndarray, np.ndarray] | None = None

    def _cell(self, gates: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, 4H) gate pre-activations (i, f, o, g) and the cell (B, H) -> the new (h, c)."""
        hs = self.config.hidden_size
        sig = _sigmoid(gates[:, : 3 * hs])
        c = sig[:, hs : 2 * hs] * c + sig[:, :hs] * np.tanh(gates[:, 3 * hs :])
        return sig[:, 2 * hs :] * np.tanh(c), c

    def _run(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One prefix from a zero state: the last position's logits (V,), h and c (L, H)."""
        x = self.embed[np.asarray(ids, dtype=np.int64)]  # (T, E)
        if self.motion is not None and self.voice_tables is not None:
            x = x + self.motion[motion_classes(np.asarray(ids, dtype=np.int64), *self.voice_tables)]
        hs_, cs_ = [], []
        for k in range(self.config.num_layers):
            pre = x @ self.w_ih[k] + self.b[k]  # (T, 4H): the inputs' part at once
            h = np.zeros((1, self.config.hidden_size), np.float32)
            c = np.zeros_like(h)
            out = np.empty((len(pre), self.config.hidden_size), np.float32)
            for t in range(len(pre)):
                h, c = self._cell(pre[t : t + 1] + h @ self.w_hh[k], c)
                out[t] = h[0]
            hs_.append(h[0])
            cs_.append(c[0])
            x = out
        return x[-1] @ self.head + self.head_bias, np.stack(hs_), np.stack(cs_)

    def prime(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Feed each prefix from a zero state; (B, V) logits of the next token."""
        runs = [self._run(p) for p in prefixes]
        if self.motion is not None and self.voice_tables is not None:  # follow the voices on from the prefixes
            self.tracker = MotionTracker(*self.voice_tables, rows=len(prefixes))
            for r, p in enumerate(prefixes):
                for t in p:
                    self.tracker.feed_one(r, int(t))
        self.state = (np.stack([r[1] for r in runs], 1), np.stack([r[2] for r in runs], 1))
        return np.stack([r[0] for r in runs])

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed one token per stream: (B,) ids -> (B, V) logits."""
        if self.state is None:
            raise RuntimeError("prime the model before stepping it")
        h0, c0 = self.state
        x = self.embed[np.asarray(tokens, dtype=np.int64).reshape(-1)]
        if self.tracker is not None and self.motion is not None:
            x = x + self.motion[self.tracker.feed(np.asarray(tokens).reshape(-1))]
        hs_, cs_ = [], []
        for k in range(self.config.num_layers):
            h, c = self._cell(np.concatenate([x, h0[k]], 1) @ self.w[k] + self.b[k], c0[k])
            hs_.append(h)
            cs_.append(c)
            x = h
        self.state = (np.stack(hs_), np.stack(cs_))
        return x @ self.head + self.head_bias

    def fresh(self) -> ArrayLSTM:
        """A copy sharing the weights, with its own (empty) state: one per sampling run."""
        twin = copy.copy(self)
        twin.state, twin.tracker = None, None
        return twin
