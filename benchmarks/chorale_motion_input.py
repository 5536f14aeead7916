"""Does the model zigzag because it cannot see a voice's last melodic motion?  A training experiment.

Teacher-forced on Bach's own chorales, the bundled SATB model expects a voice that has just stepped up to
go on up 38 % of the time on the *training* chorales (Bach: 45 %; `chorale_motion_forced.py`): the model
underfits the pattern on the data it trained on, so it is not overfitting.  In the grid code a held note
shows its pitch at every step, but the pitch before it (and so the voice's last motion) lies a whole note's
tokens back.  This script trains two models on the same data, budget and recipe and compares them:

* ``tokens``: the bundled recipe's model (2 x 256 LSTM, tied embeddings, dropout 0.3);
* ``motion``: the same with ``ModelConfig.motion_input`` (``composer/voicemotion.py``): an input embedding,
  added to every voice token's, of the interval (semitones, clipped to an octave) between the voice's last
  two struck notes.  Here the classes are computed over the whole piece, so a window cut from mid-piece keeps
  the voices' earlier notes (``composer train --motion-input`` reads each window from its start).

Both: windows of 512 tokens from random offsets of random training pieces (the corpus's sequences with their
control prefix), batch 8, AdamW 3e-3 (weight decay 0.01) with a cosine schedule to the CPU-time budget, grad
clip 1.0, one torch thread.  Reported: validation NLL per token (after the prefix) against CPU time, and at
the end the teacher-forced motion table (the model's expected share of each next motion, by the last) on the
validation chorales, against Bach's counts.

    python benchmarks/chorale_motion_input.py --variant motion --minutes 20 --name motion-input-motion
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from chorale_motion_forced import count_motions, motion_rows  # noqa: E402

from composer.corpus import load_corpus  # noqa: E402
from composer.dataset import load_pieces, scored_sequences  # noqa: E402
from composer.generation.odds import MOTIONS  # noqa: E402
from composer.model import LSTMModel, ModelConfig  # noqa: E402
from composer.voicemotion import motion_classes, voice_tables  # noqa: E402

RESULTS = HERE / "results"


def valid_nll(model: LSTMModel, valid: list[tuple[np.ndarray, np.ndarray, int]]) -> tuple[float, int]:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for seq, feats, prefix in valid:
            ids = torch.from_numpy(seq[None])
            f = torch.from_numpy(feats[None])
            logits = model(ids[:, :-1], motion=f[:, :-1])[0][0]
            nll = F.cross_entropy(logits.float(), ids[0, 1:], reduction="none")
            total += float(nll[prefix - 1 :].sum())
            count += len(seq) - prefix
    model.train()
    return total, count


def forced_motion(model: LSTMModel, valid: list[tuple[np.ndarray, np.ndarray, int]],
                  types: list[str], pitch: np.ndarray) -> dict[str, Any]:
    """The model's expected next motion by a voice's last, against Bach's (``chorale_motion_forced.py``'s count)."""
    model.eval()
    expected, counted = np.zeros((5, 5)), np.zeros((5, 5))
    for seq, feats, _ in valid:
        with torch.no_grad():
            logits, _ = model(torch.from_numpy(seq[None, :-1]), motion=torch.from_numpy(feats[None, :-1]))
        count_motions(seq, torch.softmax(logits[0].float(), -1).numpy(), types, pitch, expected, counted)
    model.train()
    return motion_rows(expected, counted)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", choices=["tokens", "motion"], required=True)
    ap.add_argument("--corpus", default="bach-chorales-satb")
    ap.add_argument("--minutes", type=float, default=20.0, help="CPU minutes of training (evaluations not counted)")
    ap.add_argument("--every", type=float, default=120.0, help="CPU seconds of training between evaluations")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", required=True, help="results/NAME.json (and NAME.pt, not committed: runs/)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    corpus = load_corpus(a.corpus)
    codec = corpus.codec
    types, pitch = list(codec.types), np.asarray(codec.pitch_of)
    tables = voice_tables(types, pitch)

    def prepared(split: str) -> list[tuple[np.ndarray, np.ndarray, int]]:
        # the classes over the whole piece: a window cut from mid-piece keeps the voices' earlier notes
        return [(s.astype(np.int64), motion_classes(s.astype(np.int64), *tables), p)
                for s, p in scored_sequences(codec, load_pieces(corpus, split))]

    train, valid = prepared("train"), prepared("valid")
    model = LSTMModel(ModelConfig(codec.vocab_size, a.hidden, a.hidden, 2, a.dropout, tie_weights=True,
                                  motion_input=a.variant == "motion"))
    model.set_voice_tables(codec)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    rng = np.random.default_rng(a.seed)
    budget = a.minutes * 60
    log: list[dict[str, float]] = []
    cpu, next_eval, step, best = 0.0, 0.0, 0, math.inf
    out_pt = Path("runs") / f"{a.name}.pt"
    out_pt.parent.mkdir(exist_ok=True)
    while True:
        if cpu >= next_eval or cpu >= budget:
            total, count = valid_nll(model, valid)
            log.append({"cpu_s": round(cpu, 1), "step": step, "nll_per_token": total / count})
            print(json.dumps(log[-1]), flush=True)
            if total / count < best:
                best = total / count
                torch.save(model.state_dict(), out_pt)
            next_eval += a.every
            if cpu >= budget:
                break
        c0 = time.process_time()
        for g in opt.param_groups:  # cosine to the budget, annealed at its end
            g["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, cpu / budget)))
        ids = np.full((a.batch, a.seq_len + 1), codec.pad, dtype=np.int64)
        fts = np.zeros((a.batch, a.seq_len + 1), dtype=np.int64)
        for r, j in enumerate(rng.integers(0, len(train), a.batch)):
            seq, feats, _ = train[j]
            start = int(rng.integers(0, max(1, len(seq) - a.seq_len)))
            piece = seq[start : start + a.seq_len + 1]
            ids[r, : len(piece)], fts[r, : len(piece)] = piece, feats[start : start + len(piece)]
        x, f = torch.from_numpy(ids), torch.from_numpy(fts)
        logits, _ = model(x[:, :-1], motion=f[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1), ignore_index=codec.pad)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        cpu += time.process_time() - c0
    model.load_state_dict(torch.load(out_pt, weights_only=True))
    table = forced_motion(model, valid, types, pitch)
    for m1, row in table.items():
        print(f"{m1:3s} model {row['model']}  Bach {row['bach']}  ({row['notes']} notes)")
    RESULTS.mkdir(exist_ok=True)
    res = {"variant": a.variant, "args": vars(a), "best_valid_nll_per_token": best, "log": log,
           "forced_motion_valid": {"columns": MOTIONS, "rows": table}}
    (RESULTS / f"{a.name}.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"{a.variant}: best valid NLL {best:.4f}/token -> {RESULTS / (a.name + '.json')}")


if __name__ == "__main__":
    main()
