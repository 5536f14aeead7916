"""The melodic motion of each voice's note after the one before: Bach's training chorales against the sampler.

Per voice, the motion of each note from the one before (``chorale_figures.MOTIONS``: a repeat, a step up /
down, a leap up / down), counted by the motion before it, for Bach's training chorales of ``bach-chorales``
and for the sampler's candidates (best of 4: every candidate counts).  Prints the conditional shares and the
total variation between the sampler's and Bach's rows (summed over the rows), and writes the counts and the
log-ratios (``odds.MOTION_CALIBRATION`` is made from them: the moving columns only, Laplace-smoothed).

    python benchmarks/chorale_motion.py --seed 9002 --n 50 --motion-odds 1.0 --out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from chorale_figures import MOTIONS, _motion, load_chorale  # noqa: E402

from composer.config import SampleOptions  # noqa: E402
from composer.corpus import load_corpus  # noqa: E402
from composer.generation.record import Request  # noqa: E402
from composer.generation.select import sample_candidates  # noqa: E402


def counts(voice_lists: list) -> Counter:
    c: Counter = Counter()
    for voices in voice_lists:
        for v in voices:
            ms = [_motion(a, b) for a, b in zip(v, v[1:], strict=False)]
            c.update(zip(ms, ms[1:], strict=False))
    return c


def shares(c: Counter) -> dict[str, list[float]]:
    out = {}
    for m1 in MOTIONS:
        n = max(sum(c[m1, m] for m in MOTIONS), 1)
        out[m1] = [c[m1, m] / n for m in MOTIONS]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=9002)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--motion-odds", default="default", help="a strength, 'none', or 'default'")
    ap.add_argument("--bach", type=Path, help="a JSON written by this script: its Bach counts (skips the corpus)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if a.bach:
        cb = Counter({tuple(k.split(">")): v for k, v in json.loads(a.bach.read_text())["bach"].items()})
    else:
        corpus = load_corpus("bach-chorales")
        train = [load_chorale(corpus.root / "midi" / f"{r['id']}.mid", 16) for r in corpus.pieces("train")]
        cb = counts([c.analysis.piece.voices for c in train])
    opts = SampleOptions(seed=a.seed, top_p=0.95)
    if a.motion_odds != "default":
        opts = replace(opts, motion_odds=None if a.motion_odds == "none" else float(a.motion_odds))
    cands = sample_candidates(Request("chorales", n=a.n, best_of=4, bars=16, options=opts))
    cg = counts([p.voices for p in cands])
    sb, sg = shares(cb), shares(cg)
    tv = sum(0.5 * sum(abs(x - y) for x, y in zip(sb[m], sg[m], strict=True)) for m in MOTIONS)
    log_ratio = {}
    for m1 in MOTIONS:  # among the motions that move (a repeat is a kind of its own), +1 on each count
        nb, ng = (sum(c[m1, m] for m in MOTIONS[1:]) for c in (cb, cg))
        log_ratio[m1] = [round(math.log((cb[m1, m] + 1) / (nb + 4) / ((cg[m1, m] + 1) / (ng + 4))), 2)
                         for m in MOTIONS[1:]]
    print(f"motion_odds {opts.motion_odds}: total variation summed over the rows {tv:.4f}")
    for m1 in MOTIONS:
        print(f"{m1:3s} Bach {[round(x, 3) for x in sb[m1]]}  sampler {[round(x, 3) for x in sg[m1]]}")
    if a.out:
        a.out.write_text(json.dumps({
            "seed": a.seed, "n": a.n, "best_of": 4, "motion_odds": opts.motion_odds, "total_variation": round(tv, 4),
            "bach": {f"{x}>{y}": cb[x, y] for x in MOTIONS for y in MOTIONS},
            "gen": {f"{x}>{y}": cg[x, y] for x in MOTIONS for y in MOTIONS},
            "shares_bach": sb, "shares_gen": sg, "log_ratio_moving": log_ratio}, indent=1) + "\n")


if __name__ == "__main__":
    main()
