"""Best-of selection with and without the style model, on the same candidates (issue 11, the AUC target).

For each seed: ``composer generate -n N --seed S``'s candidates (``select.sample_candidates``, best of 4),
each analysed once (``select.analyze_piece`` without a style model: the analysis's score) and read by the
model's style model (``style.json``, ``benchmarks/build_style_model.py``); then each piece's candidate is
chosen by the analysis's score alone (weight 0) and as ``composer generate`` chooses now
(``select.pick``: the score minus ``select.STYLE_WEIGHT`` times the style logit, among the candidates
with the group's best final cadence); other weights with ``--weights`` (``--plain`` drops the cadence
guard; ``0+guard`` is the guard without the style model).  The selections are measured against the
test split's chorales by the same code (``chorale_figures``): the figures, the classifier two-sample
test on the style features (what the style model reads) and on the texture features (what it does not).
``--split valid`` measures against the validation split's 34 chorales instead (cut to 16 bars alike;
the style model is fitted on the train split, so neither split has been seen by it): for choosing a
setting such as the weight without looking at the test split the benchmark reports.  ``--cache DIR``
keeps each seed's candidates (their scores, logits, endings and read-back pieces) so a second run on
the same candidates (the other split, other weights) skips the sampling.

Usage: python benchmarks/chorale_selection_paired.py [--seeds 1,2,3] [-n 100] [--weights 0,0+guard,0.1]
           [--split valid] [--cache DIR]
Writes benchmarks/results/chorale-selection-paired.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from dataclasses import replace  # noqa: E402

from bench_chorales import _written, real_pieces  # noqa: E402
from chorale_degrees import add_sampler_args, use_calibration  # noqa: E402
from chorale_figures import figures_of, two_sample_auc  # noqa: E402

from composer.cli.options import FILE_TOP_P  # noqa: E402
from composer.config import SampleOptions  # noqa: E402
from composer.generation import analyze_piece  # noqa: E402
from composer.generation.record import Request  # noqa: E402
from composer.generation.select import STYLE_WEIGHT, pick, sample_candidates, style_model  # noqa: E402
from composer.harmony import StyleModel, ending_value  # noqa: E402

BEST_OF = 4


def figures_row(real: list[Any], gen: list[Any]) -> dict[str, Any]:
    f = figures_of(gen)
    style, texture = two_sample_auc(real, gen, seed=1), two_sample_auc(real, gen, seed=1, texture=True)
    return {"auc": style["auc"], "auc_texture": texture["auc"],
            "top_features": [t["feature"] for t in style["top_features"][:5]],
            "top_texture_features": [t["feature"] for t in texture["top_features"][:5]],
            "triad": f["triad_share"], "seventh": f["seventh_share"], "cluster": f["cluster_share"],
            "half_notes": f["half_note_share"], "authentic_final": f["authentic_final"]["share"],
            "final_tonic": f["tonic_final_chosen_key"]["share"],
            "parallels_per_100_beats": f["parallels_per_100_beats"],
            "key_found_is_chosen": f["key_found_is_chosen"]["share"],
            "faults_per_100_beats": f["faults_per_100_beats"], "cadences_per_16_bars": f["cadences_per_16_bars"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="chorales")
    ap.add_argument("-n", "--num", type=int, default=100)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--weights", default=f"0,{STYLE_WEIGHT}")
    ap.add_argument("--plain", action="store_true", help="weigh the style in without the final-cadence guard")
    ap.add_argument("--style", type=Path, help="a style model JSON (default: the model's style.json)")
    ap.add_argument("--split", default="test", choices=("test", "valid"),
                    help="the corpus split Bach's side is drawn from (valid: for choosing settings)")
    ap.add_argument("--cache", type=Path, help="a folder keeping each seed's candidates for later runs")
    add_sampler_args(ap)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "chorale-selection-paired.json")
    args = ap.parse_args()
    os.environ.setdefault("COMPOSER_THREADS", "1")
    use_calibration(args.calibration)
    style = StyleModel.read(args.style) if args.style else style_model(args.model)
    if style is None:
        raise SystemExit(f"{args.model} has no style model (benchmarks/build_style_model.py)")
    # an arm "W" weighs the style in at W (with the cadence guard unless --plain; W = 0: the analysis alone),
    # "W+guard" keeps the guard whatever W is ("0+guard": the guard without the style model)
    arms = [(w, float(w.removesuffix("+guard")), w.endswith("+guard") or (float(w) != 0 and not args.plain))
            for w in args.weights.split(",")]
    real = real_pieces("bach-chorales", 16, split=args.split)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        t0 = time.perf_counter()
        request = Request(args.model, n=args.num, best_of=BEST_OF, bars=16,
                          options=replace(SampleOptions(seed=seed, top_p=FILE_TOP_P), **json.loads(args.options)))
        key = hashlib.sha256(json.dumps([repr(request), style.meta, str(args.calibration)], sort_keys=True,
                                        default=str).encode())
        cached = args.cache / f"seed{seed}-{key.hexdigest()[:16]}.pkl" if args.cache else None
        if cached is not None and cached.is_file():
            scored, read = pickle.loads(cached.read_bytes())
        else:
            cands = sample_candidates(request)
            scored = []
            for p in cands:
                a, score = analyze_piece(p)
                bar_beats = p.time_signature[0] * 4 / p.time_signature[1]
                scored.append((score, style.logit(a, p.bars * bar_beats, bar_beats), ending_value(a)))
            with tempfile.TemporaryDirectory() as tmp:
                read = [_written(p, Path(tmp), f"c{i:03d}", 16) for i, p in enumerate(cands)]
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(pickle.dumps((scored, read)))
        row: dict[str, Any] = {"seed": seed, "candidates": len(read)}
        groups = [scored[i * BEST_OF : (i + 1) * BEST_OF] for i in range(args.num)]
        for name, w, guard in arms:
            picks = [pick([s - w * lg for s, lg, _ in g], [e for *_, e in g] if guard else None) for g in groups]
            row[f"weight {name}"] = figures_row(real, [read[i * BEST_OF + j] for i, j in enumerate(picks)])
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        brief = {k: (v["auc"], v["auc_texture"], v["authentic_final"], v["key_found_is_chosen"])
                 for k, v in row.items() if k.startswith("weight")}
        print(json.dumps({"seed": seed} | brief), flush=True)
    keys = [k for k in rows[0] if k.startswith("weight")]
    means = {k: {m: round(sum(r[k][m] for r in rows) / len(rows), 4)
                 for m in rows[0][k] if isinstance(rows[0][k][m], float | int)} for k in keys}
    out = {"model": args.model, "split": args.split, "real_pieces": len(real), "n": args.num, "best_of": BEST_OF,
           "style_model": style.meta,
           "cadence_guard": not args.plain, "options": json.loads(args.options),
           "calibration": str(args.calibration), "style_file": str(args.style), "means": means,
           "seeds": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(means, indent=1))


if __name__ == "__main__":
    main()
