"""Sampling speed and int8 accuracy of the default model (issue #4 benchmark).

Measured in one run, interleaved so machine load affects all alike:

* bare: a loop of ``nn.LSTM`` steps + ``softmax`` + ``multinomial`` on the fp32
  model at batch 1 (no grammar masks, no decoding) - the reference;
* composer: ``sample_pieces`` end to end (grammar masks, note decoding) with the
  int8 dynamically quantized model, at batch 1 and batch 16.

Also: test-split NLL/token of the fp32 and int8 models (goal: within 1%), and
the real-time factor (seconds of music written per second of compute, at the
tempo written into the file).

Usage: python benchmarks/bench_sample.py [--model chorales] [--corpus bach-chorales] [--rounds 3]
Writes benchmarks/results/sample.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path
from statistics import median

import torch
from bench_args import add_options, options_of

warnings.filterwarnings("ignore")


def bare_loop(model: torch.nn.Module, tokens: int) -> float:
    x = torch.tensor([[1]])
    state = None
    t = time.perf_counter()
    with torch.inference_mode():
        for _ in range(tokens):
            y, state = model.lstm(model.embed(x), state)
            logits = model.head(y[:, -1])
            x = torch.multinomial(torch.softmax(logits, -1), 1)
    return tokens / (time.perf_counter() - t)


OPTIONS: dict[str, object] = {}  # --options


def composer_run(model_ref: str, n: int, bars: int, seed: int, quantize: bool) -> dict[str, float]:
    from composer.config import SampleOptions
    from composer.generation import sample_pieces

    t = time.perf_counter()
    pieces = sample_pieces(model_ref, n=n, bars=bars, options=SampleOptions(**{"seed": seed, "top_p": 0.95, **OPTIONS}),
                           quantize=quantize)
    dt = time.perf_counter() - t
    tokens = sum(p.meta["tokens"] for p in pieces)
    music_s = sum(p.bars * p.time_signature[0] * 4 / p.time_signature[1] * 60 / p.tempo for p in pieces)
    return {"tokens_per_s": tokens / dt, "realtime_factor": music_s / dt, "seconds": dt, "tokens": tokens}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="chorales")
    ap.add_argument("--corpus", default="bach-chorales")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    add_options(ap)  # (for the composer runs)
    ap.add_argument("--out", default="benchmarks/results/sample.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    OPTIONS.update(options_of(ap, args.options))

    from composer.corpus import load_corpus
    from composer.dataset import load_pieces, scored_sequences
    from composer.generation import load_model, quantize_model
    from composer.nll import sequence_nll

    ckpt = load_model(args.model)
    composer_run(args.model, 1, 2, 0, True)  # warm-up: quantization, caches
    rows: dict[str, list[float]] = {"bare_fp32_b1": [], "composer_int8_b1": [], "composer_int8_b16": [],
                                    "composer_fp32_b1": [], "rtf_int8_b1": [], "rtf_int8_b16": []}
    for r in range(args.rounds):
        rows["bare_fp32_b1"].append(bare_loop(ckpt.model, 400))
        one = composer_run(args.model, 1, args.bars, 100 + r, True)
        rows["composer_int8_b1"].append(one["tokens_per_s"])
        rows["rtf_int8_b1"].append(one["realtime_factor"])
        rows["composer_fp32_b1"].append(composer_run(args.model, 1, args.bars // 2, 200 + r, False)["tokens_per_s"])
        many = composer_run(args.model, 16, args.bars, 300 + r, True)
        rows["composer_int8_b16"].append(many["tokens_per_s"])
        rows["rtf_int8_b16"].append(many["realtime_factor"])
    med = {k: sorted(v)[len(v) // 2] for k, v in rows.items()}

    corpus = load_corpus(args.corpus)
    pieces = load_pieces(corpus, "test", ckpt.codec)
    cpu = torch.device("cpu")
    seqs = scored_sequences(ckpt.codec, pieces)
    nll32, n = sequence_nll(ckpt.model, seqs, ckpt.codec.pad, cpu)
    nll8, _ = sequence_nll(quantize_model(ckpt.model), seqs, ckpt.codec.pad, cpu)
    result = {
        "model": args.model,
        "params": ckpt.model.num_parameters(),
        "threads": args.threads,
        "options": OPTIONS,
        "rounds": args.rounds,
        "bars_per_piece": args.bars,
        "median": med,
        "all": rows,
        "speedup_int8_b1_vs_bare": med["composer_int8_b1"] / med["bare_fp32_b1"],
        "batch16_vs_batch1": med["composer_int8_b16"] / med["composer_int8_b1"],
        # the same ratios within each round (its runs a few seconds apart), then the median: steadier
        # than the ratio of medians when the machine's speed drifts between rounds
        "speedup_int8_b1_vs_bare_per_round": median([a / b for a, b in zip(rows["composer_int8_b1"],
                                                                           rows["bare_fp32_b1"], strict=True)]),
        "batch16_vs_batch1_per_round": median([a / b for a, b in zip(rows["composer_int8_b16"],
                                                                     rows["composer_int8_b1"], strict=True)]),
        "test_nll_per_token_fp32": nll32 / n,
        "test_nll_per_token_int8": nll8 / n,
        "int8_nll_change_pct": 100 * (nll8 - nll32) / nll32,
        "test_tokens": n,
        "machine": f"{platform.machine()} {platform.processor()}, torch {torch.__version__}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "all"}, indent=1))


if __name__ == "__main__":
    main()
