"""A minimal reference training loop on a corpus's tokens, and held-out NLL against wall time.

``.venv/bin/python benchmarks/bench_minimal_loop.py --minutes 10`` trains, on the REMI tokens
of the train split of ``bach-chorales`` with the same control prefix the dataset gives
(``BOS Style Key TempoBand``; ``--no-prefix`` keeps only BOS), a 2 x 256 LSTM with tied input
and output embeddings (``composer.model.LSTMModel``), on whole pieces as batches (padded to
the batch's longest, padding masked), no warm-up, no transposition, constant-lr AdamW and
gradient clipping at 1.0, on one torch thread.  Every ``--every`` seconds of training time it
measures the NLL of the valid split exactly as ``composer train`` validates
(``composer.nll.sequence_nll`` over ``dataset.scored_sequences``: every token after the prefix,
EOS included) and logs ``train_s`` (wall time of the training steps, evaluations left out),
``cpu_s`` (their process CPU time; ``--clock`` picks which one ``--minutes`` and ``--every``
count), NLL per token and per quarter note (the split's beats from the corpus records) to
``benchmarks/results/NAME.json``.

``--from-run DIR`` instead turns the validation history of a ``composer train`` run (its
``last.safetensors``) into the same JSON, so both curves can be compared.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from composer.checkpoint import read_checkpoint
from composer.corpus import load_corpus
from composer.dataset import load_pieces, scored_sequences
from composer.model import LSTMModel, ModelConfig
from composer.nll import sequence_nll

RESULTS = Path(__file__).resolve().parent / "results"


def valid_figures(corpus_name: str) -> tuple[int, float]:
    """Scored tokens and beats (quarter notes) of the valid split."""
    corpus = load_corpus(corpus_name)
    seqs = scored_sequences(corpus.codec, load_pieces(corpus, "valid"))
    return sum(len(s) - p for s, p in seqs), sum(r["beats"] for r in corpus.pieces("valid"))


def minimal(a: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    corpus = load_corpus(a.corpus)
    codec, pad = corpus.codec, corpus.codec.pad
    cut = (lambda s, p: s[p - 1 :]) if a.no_prefix else (lambda s, p: s)  # keep BOS only, or all
    train = [cut(s, p) for s, p in scored_sequences(codec, load_pieces(corpus, "train"))]
    valid = [(cut(s, p), 1 if a.no_prefix else p) for s, p in scored_sequences(codec, load_pieces(corpus, "valid"))]
    _, beats = valid_figures(a.corpus)
    model = LSTMModel(ModelConfig(codec.vocab_size, a.hidden, a.hidden, 2, a.dropout, tie_weights=True))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    rng = np.random.default_rng(a.seed)
    log: list[dict[str, float]] = []
    train_s, cpu_s, next_eval, step = 0.0, 0.0, 0.0, 0
    clock = (lambda: cpu_s) if a.clock == "cpu" else (lambda: train_s)
    while clock() < a.minutes * 60:
        order = rng.permutation(len(train))  # a new shuffle of the pieces every epoch
        for i in range(0, len(order), a.batch):
            if clock() >= next_eval:  # evaluation time is not counted
                total, count = sequence_nll(model, valid, pad, torch.device("cpu"))
                log.append({"train_s": round(train_s, 1), "cpu_s": round(cpu_s, 1), "step": step,
                            "nll_per_token": total / count, "nll_per_quarter": total / beats})
                print(json.dumps(log[-1]), flush=True)
                next_eval += a.every
            if clock() >= a.minutes * 60:
                break
            t0, c0 = time.perf_counter(), time.process_time()
            group = [train[j] for j in order[i : i + a.batch]]
            batch = torch.full((len(group), max(len(s) for s in group)), pad, dtype=torch.int64)
            for r, s in enumerate(group):
                batch[r, : len(s)] = torch.from_numpy(s)
            logits, _ = model(batch[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1), ignore_index=pad)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            train_s += time.perf_counter() - t0
            cpu_s += time.process_time() - c0
    total, count = sequence_nll(model, valid, pad, torch.device("cpu"))
    log.append({"train_s": round(train_s, 1), "cpu_s": round(cpu_s, 1), "step": step,
                "nll_per_token": total / count, "nll_per_quarter": total / beats})
    return {"kind": "minimal loop", "args": vars(a), "valid_tokens": count, "valid_beats": beats, "log": log}


def from_run(a: argparse.Namespace) -> dict[str, Any]:
    """The validation history of a ``composer train`` run, in the same units."""
    _, meta = read_checkpoint(Path(a.from_run) / "last.safetensors")
    tokens, beats = valid_figures(meta["corpus"])
    log = [{"train_s": h["elapsed"], "cpu_s": h.get("cpu"), "step": h["step"], "epoch": h["epoch"],
            "nll_per_token": h["val_loss"], "nll_per_quarter": h["val_loss"] * tokens / beats}
           for h in meta["train_state"]["history"]]
    return {"kind": "composer train", "run": a.from_run, "training": meta["training"],
            "params": meta["params"], "valid_tokens": tokens, "valid_beats": beats, "log": log}


def table(paths: list[str], minutes: list[float], clock: str) -> None:
    """Markdown rows: each run's latest NLL (token / quarter) at or before each time mark."""
    key = "train_s" if clock == "wall" else "cpu_s"
    print("| run | " + " | ".join(f"{m:g} min" for m in minutes) + " | last (s, steps) |")
    print("|---" * (len(minutes) + 2) + "|")
    for path in paths:
        log = [e for e in json.loads(Path(path).read_text())["log"] if e.get(key) is not None]
        cells = []
        for m in minutes:
            seen = [e for e in log if e[key] <= m * 60 + 1]
            cells.append(f"{seen[-1]['nll_per_token']:.3f} / {seen[-1]['nll_per_quarter']:.2f}" if seen else "-")
        tail = "-"
        if log:
            e = log[-1]
            tail = f"{e['nll_per_token']:.3f} / {e['nll_per_quarter']:.2f} ({e[key]:.0f} s, {e['step']} steps)"
        print(f"| {Path(path).stem} | " + " | ".join(cells) + f" | {tail} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="bach-chorales")
    ap.add_argument("--minutes", type=float, default=10.0, help="training time (evaluations not counted)")
    ap.add_argument("--every", type=float, default=30.0, help="seconds of training between evaluations")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="what --minutes and --every count: process CPU time (robust to a busy machine) or wall")
    ap.add_argument("--hidden", type=int, default=256, help="LSTM width = embedding width (tied)")
    ap.add_argument("--batch", type=int, default=16, help="whole pieces per step")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--no-prefix", action="store_true", help="train and score with BOS only, no controls")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--from-run", help="convert this composer train run's history instead of training")
    ap.add_argument("--name", default="minimal-loop", help="results/NAME.json")
    ap.add_argument("--table", nargs="+", metavar="JSON", help="print NLL at --marks minutes of these results")
    ap.add_argument("--marks", default="2,4,6,8,10", help="minutes for --table")
    a = ap.parse_args()
    if a.table:
        table(a.table, [float(m) for m in a.marks.split(",")], a.clock)
        return
    res = from_run(a) if a.from_run else minimal(a)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{a.name}.json").write_text(json.dumps(res, indent=1) + "\n")
    last = res["log"][-1]
    print(f"{res['kind']}: {last['train_s']:.0f} s, valid NLL {last['nll_per_token']:.4f}/token "
          f"{last['nll_per_quarter']:.3f}/quarter -> {RESULTS / (a.name + '.json')}")


if __name__ == "__main__":
    main()
