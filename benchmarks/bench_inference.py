"""One LSTM step of the bundled model: the numpy engine against torch's int8 and fp32 steppers.

The live player runs ``composer.inference.ArrayLSTM`` (numpy, float32, no torch import); files are
sampled with torch's int8 ``Stepper``.  Per engine and batch size: the median time of one step
(embedding, two LSTM layers, head) over ``--steps`` steps, after a warm-up, one BLAS / torch thread,
engines interleaved round by round so machine load affects them alike.  Also the largest logit
difference between the numpy engine and torch's fp32 model over the same 300 tokens.

Usage: python benchmarks/bench_inference.py [--model chorales] [--steps 2000] [--rounds 3]
Writes benchmarks/results/inference.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def step_seconds(stepper: object, batch: int, steps: int) -> float:
    prime, step = stepper.prime, stepper.step  # type: ignore[attr-defined]
    prime([[1]] * batch)
    tokens = np.full(batch, 5, dtype=np.int64)
    for _ in range(50):
        step(tokens)
    t = time.perf_counter()
    for _ in range(steps):
        step(tokens)
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="chorales")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/inference.json"))
    args = ap.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    from composer.generation import Stepper, load_model, quantize_model
    from composer.inference import ArrayLSTM

    torch.set_num_threads(1)
    threadpool_limits(1, user_api="blas")
    ckpt = load_model(args.model)
    engines = {"numpy fp32": lambda: ArrayLSTM(ckpt.arrays, ckpt.config),
               "torch int8": lambda: Stepper(quantize_model(ckpt.model)),
               "torch fp32": lambda: Stepper(ckpt.model)}
    times: dict[str, dict[int, list[float]]] = {e: {1: [], 16: []} for e in engines}
    for _ in range(args.rounds):
        for batch in (1, 16):
            for name, make in engines.items():
                times[name][batch].append(step_seconds(make(), batch, args.steps))
    rng = np.random.default_rng(0)
    seq = [int(t) for t in rng.integers(0, ckpt.config.vocab_size, 300)]
    arr = ArrayLSTM(ckpt.arrays, ckpt.config)
    got = [arr.prime([seq[:1]])[0]] + [arr.step(np.array([t]))[0] for t in seq[1:]]
    with torch.no_grad():
        want = ckpt.model(torch.tensor([seq]))[0][0].numpy()
    diff = np.abs(np.stack(got) - want)
    report = {
        "benchmark": "inference", "model": args.model, "steps": args.steps, "rounds": args.rounds, "threads": 1,
        "step_ms": {name: {str(b): round(1000 * statistics.median(v), 4) for b, v in per.items()}
                    for name, per in times.items()},
        "numpy_vs_torch_fp32_logits": {"max_abs": float(diff.max()), "median_abs": float(np.median(diff)),
                                       "tokens": len(seq)},
        "python": platform.python_version(), "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
