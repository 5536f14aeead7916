"""The classifier two-sample test's floor: Bach against Bach (issue 11's AUC target in context).

Plain script: ``.venv/bin/python benchmarks/chorale_classifier_floor.py [--draws 3]`` writes
``benchmarks/results/chorale-classifier-floor.json``.  Each draw takes 100 of the corpus's training
chorales (seeded), cut to 16 bars, as the "generated" side of ``chorale_figures.two_sample_auc``
against the 42 test chorales (``--split valid``: the 34 validation chorales), the same test the
sampler sweep runs: what AUC a sampler that wrote Bach's own chorales would score (0.5 = the classifier
cannot tell).  It also writes the degree shares by mode of all the training chorales cut to 16 bars
(``degrees_by_mode``: what ``odds.DEGREE_CALIBRATION`` calibrates to).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from bench_chorales import real_pieces  # noqa: E402
from chorale_figures import load_chorale, two_sample_auc  # noqa: E402
from chorale_sampler_sweep import degrees_by_mode  # noqa: E402

from composer.corpus import load_corpus  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("-n", "--num", type=int, default=100)
    ap.add_argument("--split", default="test", choices=("test", "valid"), help="the real side (valid: its 34 chorales)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "chorale-classifier-floor.json")
    args = ap.parse_args()
    corpus = load_corpus("bach-chorales")
    real = real_pieces("bach-chorales", 16, split=args.split)
    train = list(corpus.pieces("train"))
    rng = np.random.default_rng(0)
    rows = []
    for k in range(args.draws):
        pick = [train[int(i)] for i in rng.choice(len(train), args.num, replace=False)]
        side = [load_chorale(corpus.root / "midi" / f"{r['id']}.mid", 16) for r in pick]
        test = two_sample_auc(real, side, seed=1)
        rows.append({"draw": k, "auc": test["auc"], "top_features": test["top_features"][:5]})
        print(f"draw {k}: AUC {test['auc']:.3f}", flush=True)
    everyone = [load_chorale(corpus.root / "midi" / f"{r['id']}.mid", 16) for r in train]
    out = {"split": args.split, "test_pieces": len(real), "train_pieces_per_draw": args.num, "draws": rows,
           "mean_auc": round(sum(r["auc"] for r in rows) / len(rows), 4),
           "train_degrees_by_mode": degrees_by_mode(everyone), "test_degrees_by_mode": degrees_by_mode(real)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"mean AUC {out['mean_auc']:.3f}; JSON: {args.out}")


if __name__ == "__main__":
    main()
