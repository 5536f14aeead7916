"""Evaluation: NLL of a checkpoint on held-out music, against unigram and n-gram baselines.

Definitions (all NLL in nats, natural log):

* NLL/token: summed negative log-likelihood of every token after the control
  prefix (the music tokens and the final EOS) given all tokens before it,
  divided by the number of those tokens.  Perplexity = exp(NLL/token).
* NLL/note and NLL/quarter: the same sum divided by the number of notes, or of
  quarter notes (beats) from the start to the end of the last note, so models
  with different tokenizations can be compared.
* Baselines are fitted on the *train* split of the checkpoint's corpus and
  score exactly the same targets: add-one unigram, and an interpolated
  Kneser-Ney n-gram (absolute discount 0.75, continuation counts below the top
  order, uniform at the bottom).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from composer.checkpoint import check_codec_matches, load_checkpoint
from composer.codec import AnyCodec as Codec
from composer.corpus import Corpus, load_corpus
from composer.dataset import Piece, bar_id, load_pieces, scored_sequences
from composer.errors import CorpusError, InputError, MidiError
from composer.keys import find_key
from composer.midifile import find_midi_files, load_score, pitched_notes
from composer.model import resolve_device
from composer.nll import sequence_nll


class KneserNey:
    """Interpolated Kneser-Ney n-gram model over token ids."""

    def __init__(self, order: int, vocab_size: int, discount: float = 0.75) -> None:
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.order, self.vocab_size, self.d = order, vocab_size, discount
        # level k (1..order): context tuple (len k-1) -> {token: count}
        self.counts: list[dict[tuple[int, ...], dict[int, int]]] = [
            defaultdict(dict) for _ in range(order + 1)
        ]
        self.totals: list[dict[tuple[int, ...], int]] = [{} for _ in range(order + 1)]

    def fit(self, seqs: list[np.ndarray]) -> KneserNey:
        """Count n-grams of training sequences (raw at the top order, continuation below)."""
        top = self.counts[self.order]
        seen: set[tuple[int, ...]] = set()
        for seq in seqs:
            s = [int(x) for x in seq]
            for t in range(1, len(s)):
                for k in range(1, self.order + 1):
                    if t - k + 1 < 0:
                        break
                    gram = tuple(s[t - k + 1 : t + 1])
                    if k == self.order:
                        ctx, w = gram[:-1], gram[-1]
                        top[ctx][w] = top[ctx].get(w, 0) + 1
                    if gram not in seen:  # a new type: one more left-context for level k-1
                        seen.add(gram)
                        if k >= 2:
                            lower = self.counts[k - 1][gram[1:-1]]
                            lower[gram[-1]] = lower.get(gram[-1], 0) + 1
        for k in range(1, self.order + 1):
            self.totals[k] = {ctx: sum(d.values()) for ctx, d in self.counts[k].items()}
        return self

    def prob(self, ctx: tuple[int, ...], w: int) -> float:
        """P(w | ctx), ctx being up to order-1 previous tokens."""
        p = 1.0 / self.vocab_size
        for k in range(1, self.order + 1):
            if k - 1 > len(ctx):
                break
            c = ctx[len(ctx) - (k - 1) :] if k > 1 else ()
            table = self.counts[k].get(c)
            if not table:
                continue
            total = self.totals[k][c]
            p = max(table.get(w, 0) - self.d, 0.0) / total + self.d * len(table) / total * p
        return p


def _targets(seq: np.ndarray, plen: int) -> range:
    return range(plen, len(seq))  # positions scored: after the control prefix


def baseline_nll(
    train: list[np.ndarray], test: list[tuple[np.ndarray, int]], vocab_size: int, order: int
) -> dict[str, tuple[float, int]]:
    """Summed NLL and token count of the unigram and n-gram baselines on ``test``.

    ``test`` holds ``(sequence, prefix_length)`` pairs.
    """
    counts = np.ones(vocab_size)  # add-one
    for s in train:
        np.add.at(counts, s[1:], 1)
    logp = np.log(counts / counts.sum())
    kn = KneserNey(order, vocab_size).fit(train)
    uni, ngram, n = 0.0, 0.0, 0
    for seq, plen in test:
        toks = [int(x) for x in seq]
        for t in _targets(seq, plen):
            uni -= float(logp[toks[t]])
            ngram -= math.log(kn.prob(tuple(toks[max(0, t - order + 1) : t]), toks[t]))
            n += 1
    return {"unigram": (uni, n), f"{order}-gram KN": (ngram, n)}


def _midi_dir_pieces(folder: Path, codec: Codec, style: str | None) -> tuple[list[Piece], dict[str, Any]]:
    pieces, notes, beats, skipped = [], 0, 0.0, 0
    problems: list[str] = []
    bar = bar_id(codec)
    for path in find_midi_files(folder):
        try:
            score = load_score(path)
            ns = pitched_notes(score)
            ids = codec.encode_score(score).astype(np.int64)
        except MidiError as exc:
            skipped += 1
            problems.append(str(exc))
            continue
        if not ns or not len(ids):
            skipped += 1
            problems.append(f"{path}: no notes")
            continue
        tempo = float(score.tempos[0].qpm) if len(score.tempos) else 120.0
        pieces.append(Piece(ids, style, find_key(ns)[0], tempo, np.nonzero(ids == bar)[0]))
        notes += len(ns)
        beats += max(n.end for n in ns)
    return pieces, {"notes": notes, "beats": beats, "skipped": skipped, "problems": problems}


def evaluate(
    checkpoint: str,
    data: str,
    *,
    split: str = "test",
    order: int = 4,
    baseline_corpus: str | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Score a checkpoint and the baselines on a corpus split or a folder of MIDI files.

    Returns
    -------
    dict
        ``{"models": [{"model", "nll_per_token", "perplexity", "nll_per_note",
        "nll_per_quarter"}, ...], "tokens", "notes", "beats", "pieces", ...}``.
    """
    ckpt = load_checkpoint(checkpoint)
    codec = ckpt.codec
    style = ckpt.meta.get("corpus")
    folder = Path(data)
    if folder.is_dir() and not (folder / "manifest.json").exists():
        pieces, figs = _midi_dir_pieces(folder, codec, style)
        if not pieces:
            found = figs["problems"][:3]
            more = f" (+{len(figs['problems']) - 3} more)" if len(figs["problems"]) > 3 else ""
            why = "; ".join(found) + more if found else "no .mid/.midi files"
            raise InputError(f"{folder}: no readable MIDI files with notes: {why}")
        label = str(folder)
    else:
        corpus = load_corpus(data)
        check_codec_matches(codec, corpus.codec)
        pieces = load_pieces(corpus, split, codec)
        recs = corpus.pieces(split)
        figs = {"notes": sum(r["notes"] for r in recs), "beats": sum(r["beats"] for r in recs), "skipped": 0}
        label = f"{corpus.name}/{split}"
    if not pieces:
        raise InputError(f"{label}: no pieces to evaluate")
    base_name = baseline_corpus or style
    try:
        base: Corpus = load_corpus(str(base_name))
    except CorpusError:
        raise CorpusError(
            f"baselines need the training corpus {base_name!r}: run composer corpus build {base_name}"
        ) from None
    check_codec_matches(codec, base.codec, "baseline corpus")
    train_seqs = [seq for seq, _ in scored_sequences(codec, load_pieces(base, "train", codec))]
    test = scored_sequences(codec, pieces)
    with torch.inference_mode():
        total, count = sequence_nll(ckpt.model, test, codec.pad, resolve_device(device))
    results = {f"LSTM ({ckpt.name})": (total, count)}
    results.update(baseline_nll(train_seqs, test, codec.vocab_size, order))
    rows = []
    for name, (nll, n) in results.items():
        rows.append({
            "model": name,
            "nll_per_token": nll / n,
            "perplexity": math.exp(nll / n),
            "nll_per_note": nll / max(1, figs["notes"]),
            "nll_per_quarter": nll / max(1e-9, figs["beats"]),
            "nll_total": nll,
        })
    return {
        "checkpoint": ckpt.name,
        "checkpoint_path": str(Path(ckpt.path).resolve()),
        "data": label,
        "pieces": len(pieces),
        "tokens": count,
        "notes": figs["notes"],
        "beats": figs["beats"],
        "skipped": figs["skipped"],
        "baseline_corpus": base.name,
        "ngram_order": order,
        "models": rows,
    }
