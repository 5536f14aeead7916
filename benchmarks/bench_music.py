"""Objective musical metrics of generated pieces against the real test split (issue #4).

Generates ``--num`` pieces (default 100) from a model with the default sampling
options and compares their metrics (composer.metrics: pitch-class entropy,
scale consistency, empty-beat rate, polyphony, pitch range, note density) with
the pieces of the corpus's test split, cut to the same number of bars.

Usage: python benchmarks/bench_music.py --model chorales --corpus bach-chorales [--num 100] [--bars 16]
Writes benchmarks/results/music-MODEL.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch

warnings.filterwarnings("ignore")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="chorales")
    ap.add_argument("--corpus", default="bach-chorales")
    ap.add_argument("--num", type=int, default=100)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--temperature", type=float, default=None, help="default: the library default")
    ap.add_argument("--key-bias", type=float, default=None, help="default: the library default")
    ap.add_argument("--out", default=None, help="default: benchmarks/results/music-MODEL[-tT][-kB].json")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from composer.config import SampleOptions
    from composer.corpus import load_corpus
    from composer.metrics import METRICS, all_metrics, summarize
    from composer.midifile import load_score, pitched_notes

    corpus = load_corpus(args.corpus)
    real = []
    for rec in corpus.pieces("test"):
        path = corpus.root / "midi" / f"{rec['id']}.mid"
        if not path.exists():
            path = Path(rec["source"])
        notes = pitched_notes(load_score(path))
        bar = int(rec["time_signature"].split("/")[0]) * 4 / int(rec["time_signature"].split("/")[1])
        cut = [n for n in notes if n.start < args.bars * bar]
        if cut:
            real.append(all_metrics(cut))

    from composer.generation import sample_pieces

    gen, t0 = [], time.perf_counter()
    for i in range(0, args.num, args.batch):
        n = min(args.batch, args.num - i)
        extra = {} if args.temperature is None else {"temperature": args.temperature}
        if args.key_bias is not None:
            extra["key_bias"] = args.key_bias
        opts = SampleOptions(seed=args.seed + i, top_p=args.top_p, **extra)
        for p in sample_pieces(args.model, n=n, bars=args.bars, options=opts):
            gen.append(all_metrics(p.notes))
    seconds = time.perf_counter() - t0
    s_real, s_gen = summarize(real), summarize(gen)
    temperature = SampleOptions().temperature if args.temperature is None else args.temperature
    key_bias = SampleOptions().key_bias if args.key_bias is None else args.key_bias
    result = {"model": args.model, "corpus": args.corpus, "generated": len(gen), "real": len(real),
              "bars": args.bars, "top_p": args.top_p, "temperature": temperature, "key_bias": key_bias,
              "generation_seconds": round(seconds, 1),
              "generated_metrics": s_gen, "real_metrics": s_real}
    tag = "" if args.temperature is None else f"-t{args.temperature:g}"
    tag += "" if args.key_bias is None else f"-k{args.key_bias:g}"
    out = Path(args.out or f"benchmarks/results/music-{Path(args.model).name}{tag}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"| metric | generated ({len(gen)}) | real test ({len(real)}) |")
    print("|---|---|---|")
    for name in METRICS:
        g, r = s_gen[name], s_real[name]
        print(f"| {name} | {g['mean']:.3f} ± {g['std']:.3f} | {r['mean']:.3f} ± {r['std']:.3f} |")


if __name__ == "__main__":
    main()
