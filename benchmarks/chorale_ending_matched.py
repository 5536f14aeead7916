"""The two-sample test with real endings on Bach's side too (issue 11: is the AUC an artefact of the cut?).

Plain script: ``.venv/bin/python benchmarks/chorale_ending_matched.py --generated out/`` (a folder of
generated 16-bar pieces, e.g. ``composer generate -n 100 --bars 16 --seed 1 -o out/``) writes
``benchmarks/results/chorale-ending-matched.json``.  The standard test (``bench_chorales.py``) cuts the
42 test chorales to 16 bars, so Bach's second 8-bar excerpt often stops mid-phrase while every
generated piece's second excerpt ends on its final cadence.  Here Bach's side is each whole chorale's
first 8 bars and last 8 bars (``chorale_figures.ending_excerpts``); the generated side is unchanged.
Both feature sets (the issue's style features and the texture features), same folds and seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_chorales import generated_from_dir, real_pieces  # noqa: E402
from chorale_figures import ending_excerpts, two_sample_auc  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generated", type=Path, required=True, help="folder of generated 16-bar MIDI files")
    ap.add_argument("--seed", type=int, default=1, help="the folds' seed (bench_chorales uses its --seed)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "chorale-ending-matched.json")
    args = ap.parse_args()
    gen = generated_from_dir(args.generated, 16)
    cut, whole = real_pieces("bach-chorales", 16), real_pieces("bach-chorales", None)
    out: dict[str, object] = {"generated": str(args.generated), "pieces": len(gen), "seed": args.seed}
    for texture in (False, True):
        kind = "texture" if texture else "style"
        for side, groups in (("cut to 16 bars", None), ("first + last 8 bars", ending_excerpts(whole, texture))):
            test = two_sample_auc(cut, gen, seed=args.seed, texture=texture, real_groups=groups)
            out[f"{kind}, Bach {side}"] = {"auc": test["auc"], "excerpts": test["excerpts"],
                                           "top_features": test["top_features"][:5]}
            print(f"{kind} features, Bach {side}: AUC {test['auc']:.3f} "
                  f"({test['excerpts']['real']} real excerpts)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
