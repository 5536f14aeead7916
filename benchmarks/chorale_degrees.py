"""The sampler's degree shares against Bach's training chorales, and ``odds.DEGREE_CALIBRATION`` refitted on them.

Samples ``--pieces`` x ``--best-of`` candidates (``select.sample_candidates``, every candidate counts, seed
``--seed``: not a benchmark seed) with ``SampleOptions`` overridden by ``--options`` (JSON), reads them as
the benchmarks do (music21's key of the first 16 bars), and compares each mode's degree shares with the
294 training chorales' (``results/chorale-classifier-floor.json``'s ``train_degrees_by_mode``; never the
test split).  The refit adds the residual ``log(Bach's share / the sampler's)`` to the calibration in use
(under ``degree_odds`` 0.8 and temperature 0.8 the calibration is about the effective log-odds: one step
of a fixed-point fit).

    python benchmarks/chorale_degrees.py --options '{"motion_odds": 1.5}' --seed 9003 --out x.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench_chorales import _written  # noqa: E402
from chorale_sampler_sweep import degrees_by_mode  # noqa: E402

from composer.cli.options import FILE_TOP_P  # noqa: E402
from composer.config import SampleOptions  # noqa: E402
from composer.generation import odds  # noqa: E402
from composer.generation.record import Request  # noqa: E402
from composer.generation.select import sample_candidates  # noqa: E402


def use_calibration(path: Path | None) -> None:
    """Set the degree calibrations for this process from a JSON written here (its ``refit``), if given.

    Both tables (``odds.DEGREE_CALIBRATION`` and ``DEGREE_CALIBRATION_MOTION``): a run samples one sampler.
    """
    if path is not None:
        refit = json.loads(Path(path).read_text())["refit"]
        odds.DEGREE_CALIBRATION = odds.DEGREE_CALIBRATION_MOTION = {False: tuple(refit["major"]),
                                                                    True: tuple(refit["minor"])}


def add_sampler_args(ap: argparse.ArgumentParser) -> None:
    """``--options`` (SampleOptions fields as JSON) and ``--calibration`` (a refit JSON of this script)."""
    ap.add_argument("--options", default="{}", help="SampleOptions fields as JSON, over the defaults")
    ap.add_argument("--calibration", type=Path, help="a JSON of chorale_degrees.py: its refit as DEGREE_CALIBRATION")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="chorales")
    ap.add_argument("--pieces", type=int, default=100)
    ap.add_argument("--best-of", type=int, default=4)
    ap.add_argument("--seed", type=int, default=9003)
    add_sampler_args(ap)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    use_calibration(a.calibration)
    os.environ.setdefault("COMPOSER_THREADS", "1")
    opts = replace(SampleOptions(seed=a.seed, top_p=FILE_TOP_P), **json.loads(a.options))
    cands = sample_candidates(Request(a.model, n=a.pieces, best_of=a.best_of, bars=16, options=opts))
    with tempfile.TemporaryDirectory() as tmp:
        read = [_written(p, Path(tmp), f"c{i:03d}", 16) for i, p in enumerate(cands)]
    gen = degrees_by_mode(read)
    bach = json.loads((HERE / "results" / "chorale-classifier-floor.json").read_text())["train_degrees_by_mode"]
    in_use = odds.DEGREE_CALIBRATION_MOTION if opts.motion_degrees else odds.DEGREE_CALIBRATION
    refit: dict[str, list[float]] = {}
    for minor, mode in ((False, "major"), (True, "minor")):
        b, g = bach[mode]["degrees"], gen[mode]["degrees"]
        resid = [math.log(max(x, 1e-4) / max(y, 1e-4)) for x, y in zip(b, g, strict=True)]
        refit[mode] = [round(c + r, 2) for c, r in zip(in_use[minor], resid, strict=True)]
        tv = 0.5 * sum(abs(x - y) for x, y in zip(b, g, strict=True))
        print(f"{mode} ({gen[mode]['pieces']} pieces): total variation from Bach {tv:.4f}")
        print("  Bach   ", [round(x, 3) for x in b])
        print("  sampler", [round(x, 3) for x in g])
        print("  refit  ", refit[mode])
    if a.out:
        a.out.write_text(json.dumps({
            "seed": a.seed, "pieces": a.pieces, "best_of": a.best_of, "options": json.loads(a.options),
            "calibration_file": str(a.calibration), "bach_train": bach, "sampler": gen,
            "calibration_in_use": {"major": in_use[False], "minor": in_use[True]}, "refit": refit}, indent=1) + "\n")


if __name__ == "__main__":
    main()
