"""Training windows of token ids, with the control prefix and transposition.

Each piece becomes ``BOS Style Key Tempo <music> EOS``.  A window is at most
``seq_len + 1`` ids; a piece that fits is one window, longer pieces are cut at
bar lines, and every window after the first gets the piece's control prefix
again, so the model is always told what it is writing.  A batch is padded to its
longest window, and (``group_by_length``) windows of like length are batched
together, so little of a step is spent on padding.  The order of windows and batches and the
transposition of each piece are a pure function of ``(seed, epoch)``: a resumed
run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from composer.codec import AnyCodec as Codec
from composer.corpus import Corpus


@dataclass
class Piece:
    """One piece ready for windowing."""

    ids: np.ndarray  # (T,) music ids, no prefix
    style: str | None
    key_index: int | None
    tempo: float | None
    bars: np.ndarray  # positions of Bar tokens in ids


def load_pieces(corpus: Corpus, split: str, codec: Codec | None = None) -> list[Piece]:
    """The pieces of one split, as :class:`Piece` records."""
    codec = codec or corpus.codec
    bar = bar_id(codec)
    out = []
    for rec in corpus.pieces(split):
        ids = corpus.tokens(rec["id"]).astype(np.int64)
        out.append(
            Piece(
                ids=ids,
                style=rec.get("style", corpus.name),
                key_index=rec.get("key_index"),
                tempo=rec.get("tempo"),
                bars=np.nonzero(ids == bar)[0],
            )
        )
    return out


def bar_id(codec: Codec) -> int:
    """The id of the Bar token, or -1 for tokenizations without bars (TSD, MIDILike)."""
    try:
        return codec.id_of("Bar_None")
    except KeyError:  # a bar-less MidiTok code (TSD, MIDILike)
        return -1


def full_sequence(codec: Codec, piece: Piece, semitones: int = 0) -> np.ndarray | None:
    """``prefix + music + EOS`` of a piece, transposed; ``None`` if it leaves the pitch range."""
    prefix = codec.prefix(piece.style, piece.key_index, piece.tempo)
    seq = np.concatenate([np.array(prefix, dtype=np.int64), piece.ids, [codec.eos]])
    if semitones:
        seq = codec.transpose_table(semitones)[seq]
        if (seq < 0).any():
            return None
    return seq


def scored_sequences(codec: Codec, pieces: list[Piece]) -> list[tuple[np.ndarray, int]]:
    """``(prefix + music + EOS, prefix length)`` of each piece, untransposed: what NLL is scored on."""
    out = []
    for p in pieces:
        seq = full_sequence(codec, p)
        if seq is not None:
            out.append((seq, len(seq) - len(p.ids) - 1))
    return out


class WindowSampler:
    """Batches of windows for one epoch, deterministic in ``(seed, epoch)``.

    Parameters
    ----------
    codec : Codec
        Supplies the prefix, EOS and transposition tables.
    pieces : list of Piece
        Training pieces.
    seq_len : int
        Inputs per window (a window holds ``seq_len + 1`` ids).
    batch_size : int
        Windows per batch.
    transpose : (int, int)
        Inclusive semitone range drawn from per piece and epoch.
    pitch_range : (int, int)
        Transposed pieces must stay inside it (else another shift is drawn).
    seed : int
        Base seed.
    rank, world : int
        This process's share of the batches under ``torchrun``.
    group_by_length : bool
        Batch windows of like length together: the shuffled windows are taken in
        pools of ``GROUP_POOL`` batches, each pool sorted by length and cut into
        batches, and the batches shuffled.  Off: consecutive shuffled windows.
    """

    GROUP_POOL = 16  # batches per length-sorted pool

    def __init__(
        self,
        codec: Codec,
        pieces: list[Piece],
        seq_len: int,
        batch_size: int,
        transpose: tuple[int, int] = (0, 0),
        pitch_range: tuple[int, int] = (0, 127),
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        group_by_length: bool = False,
    ) -> None:
        if seq_len < 8:
            raise ValueError(f"seq_len must be >= 8, got {seq_len}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.codec, self.pieces = codec, pieces
        self.seq_len, self.batch_size = seq_len, batch_size
        self.transpose, self.pitch_range = transpose, pitch_range
        self.seed, self.rank, self.world = seed, rank, world
        self.group_by_length = group_by_length
        self._tables: dict[int, np.ndarray | None] = {}

    def _shift(self, rng: np.random.Generator, piece: Piece) -> int:
        lo, hi = self.transpose
        if lo == hi == 0 or not len(piece.ids):
            return 0
        pitches = self.codec.pitch_of[piece.ids]
        pitches = pitches[pitches >= 0]
        pmin, pmax = (int(pitches.min()), int(pitches.max())) if len(pitches) else (60, 60)
        allowed = [
            s
            for s in range(lo, hi + 1)
            if self.pitch_range[0] <= pmin + s and pmax + s <= self.pitch_range[1]
        ]
        return int(rng.choice(allowed)) if allowed else 0

    def windows(self, epoch: int) -> list[np.ndarray]:
        """All windows of an epoch, shuffled (before sharding across ranks)."""
        rng = np.random.default_rng([self.seed, epoch])
        out: list[np.ndarray] = []
        n = self.seq_len + 1
        for piece in self.pieces:
            seq = full_sequence(self.codec, piece, self._shift(rng, piece))
            if seq is None:
                seq = full_sequence(self.codec, piece, 0)
            if seq is None:
                continue
            plen = len(seq) - len(piece.ids) - 1  # prefix length
            out.append(seq[:n])
            out += self._later_windows(rng, seq, plen, piece.bars + plen)
        order = rng.permutation(len(out))
        return [out[i] for i in order]

    def _later_windows(
        self, rng: np.random.Generator, seq: np.ndarray, plen: int, bars: np.ndarray
    ) -> list[np.ndarray]:
        """Windows after the first: the prefix, then music from a bar line on.

        Each starts at or before the first token the previous windows left
        out, so no token goes untrained: at a bar line drawn from the last
        quarter of the previous window (or the last bar line before it), else
        (tokenizations without bars) right at that token.  The last window is
        pulled back to a bar line so it ends at EOS instead of padding.
        """
        out: list[np.ndarray] = []
        body = self.seq_len + 1 - plen  # music tokens per later window
        if body < 2:
            return out
        start, covered = plen, self.seq_len + 1  # seq[:covered] is in a window already
        while covered < len(seq):
            near = bars[(bars > max(start, covered - body // 4)) & (bars <= covered)]
            before = bars[(bars > start) & (bars <= covered)]
            later = bars[bars > covered]
            if len(near):
                cut = int(rng.choice(near))
            elif len(before):
                cut = int(before[-1])
            elif len(bars):  # a bar longer than a window: skip to the next bar line
                if not len(later):
                    break
                cut = int(later[0])
            else:  # a tokenization without bars (TSD, MIDILike): cut anywhere
                cut = covered
            if len(seq) - cut < body:  # the last window: end at EOS where a bar line allows
                tail = bars[(bars >= len(seq) - body) & (bars <= cut) & (bars > start)]
                cut = int(tail[0]) if len(tail) else cut
            out.append(np.concatenate([seq[:plen], seq[cut : cut + body]]))
            start, covered = cut, cut + body
        return out

    def batches(self, epoch: int) -> list[torch.Tensor]:
        """The batches of an epoch for this rank: (B, longest window) int64, PAD-filled."""
        wins = self.windows(epoch)
        usable = len(wins) - len(wins) % self.world if self.world > 1 else len(wins)
        mine = wins[self.rank : usable : self.world]
        groups = [mine[i : i + self.batch_size] for i in range(0, len(mine), self.batch_size)]
        if self.group_by_length:
            groups = []
            pool = self.batch_size * self.GROUP_POOL
            for i in range(0, len(mine), pool):
                part = sorted(mine[i : i + pool], key=len)  # stable: ties keep the shuffled order
                groups += [part[j : j + self.batch_size] for j in range(0, len(part), self.batch_size)]
            order = np.random.default_rng([self.seed, epoch, 1]).permutation(len(groups))
            groups = [groups[k] for k in order]
        pad = self.codec.pad
        batches = []
        for group in groups:
            arr = np.full((len(group), max(len(w) for w in group)), pad, dtype=np.int64)
            for j, w in enumerate(group):
                arr[j, : len(w)] = w
            batches.append(torch.from_numpy(arr))
        return batches

    def num_batches(self, epoch: int = 0) -> int:
        """Batches per epoch for this rank (epochs differ slightly; epoch 0 is the estimate)."""
        return len(self.batches(epoch))

    def state(self) -> dict[str, Any]:
        """What determines the data order (saved with the training state)."""
        return {"seed": self.seed, "seq_len": self.seq_len, "batch_size": self.batch_size,
                "transpose": list(self.transpose), "group_by_length": self.group_by_length}
