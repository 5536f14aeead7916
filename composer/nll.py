"""Negative log-likelihood of whole token sequences under a model.

Training validates with it and evaluation reports it, so both score exactly the
same targets: every token after the control prefix (the music tokens and the
final EOS), given all tokens before it.  Sequences come as ``(ids, prefix_len)``
pairs (``dataset.scored_sequences`` builds them from pieces).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from composer.model import LSTMModel


@torch.no_grad()
def sequence_nll(
    model: LSTMModel,
    seqs: Sequence[tuple[np.ndarray, int]],
    pad: int,
    device: torch.device,
    batch: int = 16,
) -> tuple[float, int]:
    """Total NLL (nats) of the tokens after each sequence's control prefix.

    Parameters
    ----------
    model : LSTMModel
        Scored in eval mode; its training flag is restored after.
    seqs : sequence of (np.ndarray, int)
        Token ids (prefix + music + EOS) and the length of the prefix, which is
        given, not scored.
    pad : int
        The PAD id (filler in batches, never scored).
    device : torch.device
        Where the model runs.
    batch : int
        Sequences per forward pass (sorted by length, so little padding).

    Returns
    -------
    (float, int)
        Summed NLL and the number of tokens it covers.
    """
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    order = np.argsort([len(s) for s, _ in seqs])
    for i in range(0, len(order), batch):
        idx = order[i : i + batch]
        width = max(len(seqs[j][0]) for j in idx)
        arr = np.stack([_pad_to(seqs[j][0], width, pad) for j in idx])  # (B, T)
        tgt = arr[:, 1:].copy()
        for r, j in enumerate(idx):
            tgt[r, : seqs[j][1] - 1] = pad  # the control prefix is given, not scored
        logits, _ = model(torch.from_numpy(arr[:, :-1]).to(device))  # (B, T-1, V)
        t = torch.from_numpy(tgt).to(device)
        nll = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), t.reshape(-1), ignore_index=pad, reduction="sum"
        )
        total += float(nll)
        count += int((t != pad).sum())
    model.train(was_training)
    return total, count


def _pad_to(seq: np.ndarray, width: int, pad: int) -> np.ndarray:
    out = np.full(width, pad, dtype=np.int64)
    out[: len(seq)] = seq
    return out
