"""Build a model's style model (``style.json`` beside its weights) for best-of-K selection.

A logistic regression (``chorale_figures.fit_logistic``, L2 1.0, features standardized) on the
8-bar excerpts' style statistics (``composer.harmony.piece_excerpts``: sonorities per beat,
melodic intervals, durations, pitch classes above the tonic) of

* the corpus's **training** split (its MIDI renderings, each cut to ``--bars`` bars; never the
  test split, which the two-sample test of ``bench_chorales.py`` holds out), label 0, and
* the model's own candidates as ``composer generate`` samples them before choosing
  (``--pieces`` x ``--best-of``, seed ``--seed``: not a seed the benchmarks use), label 1,

so its logit says how much a piece is unlike the corpus.  ``composer generate`` / ``continue``
then keep, of each piece's candidates, the one that scores best on the analysis *and* this
(``select.STYLE_WEIGHT``).  Deterministic for a given model and sampler.

Usage: python benchmarks/build_style_model.py [--model chorales] [--corpus bach-chorales]
       [--out checkpoints/chorales/style.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from chorale_degrees import add_sampler_args, use_calibration  # noqa: E402
from chorale_figures import excerpts, fit_logistic, load_chorale  # noqa: E402

from composer.cli.options import FILE_TOP_P  # noqa: E402
from composer.config import SampleOptions  # noqa: E402
from composer.corpus import load_corpus  # noqa: E402
from composer.files import write_bytes_atomic  # noqa: E402
from composer.generation import analyze_piece, load_model  # noqa: E402
from composer.generation.record import Request  # noqa: E402
from composer.generation.select import STYLE_FILE, sample_candidates  # noqa: E402
from composer.harmony import StyleModel, piece_excerpts  # noqa: E402

L2 = 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="chorales")
    ap.add_argument("--corpus", default="bach-chorales")
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--pieces", type=int, default=50)
    ap.add_argument("--best-of", type=int, default=4)
    ap.add_argument("--seed", type=int, default=9001)
    add_sampler_args(ap)
    ap.add_argument("--out", default=None, help="default: style.json beside the model's weights")
    args = ap.parse_args()
    use_calibration(args.calibration)
    t0 = time.perf_counter()

    corpus = load_corpus(args.corpus)
    train = [load_chorale(corpus.root / "midi" / f"{r['id']}.mid", args.bars) for r in corpus.pieces("train")]
    real = [x for g in excerpts(train) for x in g]
    request = Request(args.model, n=args.pieces, best_of=args.best_of, bars=args.bars,
                      options=replace(SampleOptions(seed=args.seed, top_p=FILE_TOP_P), **json.loads(args.options)))
    generated, read = [], []
    for piece in sample_candidates(request):
        a, score = analyze_piece(piece)  # the analysis selection reads, without a style model
        bar_beats = piece.time_signature[0] * 4 / piece.time_signature[1]
        generated += piece_excerpts(a, piece.bars * bar_beats, bar_beats)
        read.append((a, score, piece.bars * bar_beats, bar_beats))

    x = np.array(real + generated, dtype=float)
    y = np.r_[np.zeros(len(real)), np.ones(len(generated))]
    mean, scale = x.mean(0), x.std(0)
    scale[scale < 1e-9] = 1.0
    w = fit_logistic((x - mean) / scale, y, L2)
    model = StyleModel(
        tuple(mean.tolist()), tuple(scale.tolist()), tuple(w[:-1].tolist()), float(w[-1]),
        meta={"built_by": "benchmarks/build_style_model.py", "date": datetime.date.today().isoformat(),
              "real": {"corpus": args.corpus, "split": "train", "pieces": len(train), "bars": args.bars,
                       "excerpts": len(real)},
              "generated": {"model": args.model, "pieces": args.pieces, "best_of": args.best_of, "seed": args.seed,
                            "top_p": FILE_TOP_P, "excerpts": len(generated),
                            "options": json.loads(args.options)},
              "l2": L2, "label": "1 = generated (a positive logit: unlike the corpus)"},
    )
    # the mean range, among a piece's candidates, of the analysis's score and of the style logit (their ratio
    # is the weight at which both spread alike: how select.STYLE_WEIGHT 0.1 was first set; it is now chosen
    # on the validation split, benchmarks/RESULTS.md, "The style weight chosen on the validation split")
    k = args.best_of
    logits = [model.logit(a, end, bar_beats) for a, _, end, bar_beats in read]
    scores = [r[1] for r in read]
    spread = {name: float(np.mean([np.ptp(v[i : i + k]) for i in range(0, len(v), k)]))
              for name, v in (("analysis_score", scores), ("style_logit", logits))}
    model = StyleModel(model.mean, model.scale, model.weights, model.intercept,
                       model.meta | {"mean_range_among_candidates": {n: round(v, 4) for n, v in spread.items()}})
    out = Path(args.out) if args.out else load_model(args.model).path.parent / STYLE_FILE
    write_bytes_atomic(model.to_json().encode(), out, force=True)
    print(f"{out}: {len(real)} real and {len(generated)} generated excerpts; mean range among a piece's "
          f"candidates: analysis score {spread['analysis_score']:.3f}, style logit {spread['style_logit']:.3f} "
          f"(equal at weight {spread['analysis_score'] / spread['style_logit']:.3f}); {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
