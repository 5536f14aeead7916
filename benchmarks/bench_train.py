"""Benchmark composer's training loop against a bare PyTorch loop of the same shape.

Plain script: ``.venv/bin/python benchmarks/bench_train.py`` writes
``benchmarks/results/train.json``.

* composer: ``composer.train.train`` on a built corpus (``bach-chorales`` from the
  default cache if built, else a tiny corpus built on the fly), stopped from the
  callback after ``--steps`` optimizer steps (no checkpoint is written inside the
  measured steps: ``save_every`` is huge).
* bare: ``nn.Embedding -> nn.LSTM -> nn.Dropout -> nn.Linear`` with the same vocabulary,
  widths, dropout, batch and sequence length, random ids, cross-entropy, gradient
  clipping at 1.0 and AdamW with the same settings, for the same number of steps.

Throughput is ``batch * seq_len`` positions per second of wall time between the
step callbacks (bare: between steps), after ``--warmup`` steps; intervals that
contain an epoch end (validation) are left out.  Each measurement runs in a fresh
subprocess so its peak RSS (``ru_maxrss``) is its own, and the two loops are
interleaved (A B A B ...) so machine load weighs on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from composer.errors import CorpusError

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "train.json"


def _rss_mb() -> float:
    """Current resident set size, MiB (Linux /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _rate(times: list[float], skip: set[int], warmup: int, positions: int) -> dict[str, float]:
    """Positions/s over step intervals after the warm-up, leaving out intervals in ``skip``."""
    gaps = [
        (i, times[i] - times[i - 1]) for i in range(max(1, warmup), len(times)) if i not in skip
    ]
    total = sum(g for _, g in gaps)
    per_step = sorted(g for _, g in gaps)
    return {
        "tokens_per_s": positions * len(gaps) / total if total else float("nan"),
        "step_s_median": statistics.median(per_step) if per_step else float("nan"),
        "measured_steps": len(gaps),
    }


# ---- workers (one per subprocess) ------------------------------------------------------------
class _Done(Exception):
    pass


def worker_composer(a: argparse.Namespace) -> dict[str, Any]:
    import torch

    from composer.train import TrainConfig, train

    torch.set_num_threads(a.threads)
    rss0 = _rss_mb()
    times: list[float] = []
    epoch_ends: set[int] = set()
    reported: list[float] = []
    info: dict[str, Any] = {}
    t_start = time.perf_counter()

    def on_event(e: dict[str, Any]) -> None:
        if e["event"] == "start":
            info.update(steps_per_epoch=e["steps_per_epoch"], params=e["params"],
                        setup_s=time.perf_counter() - t_start)
        elif e["event"] == "epoch":
            epoch_ends.add(len(times))  # the next interval holds a validation
        elif e["event"] == "step":
            times.append(time.perf_counter())
            reported.append(e["tokens_per_s"])
            if e["step"] >= a.steps:
                raise _Done

    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(
            corpus=a.corpus, out=out, embed_dim=a.embed, hidden_size=a.hidden, num_layers=a.layers,
            dropout=a.dropout, seq_len=a.seq_len, batch_size=a.batch, epochs=10**6,
            save_every=10**9, patience=0, device="cpu", threads=a.threads, seed=0,
        )
        try:
            train(cfg, callback=on_event)
        except _Done:
            pass
    res = _rate(times, epoch_ends, a.warmup, a.batch * a.seq_len)
    res.update(info)
    res["reported_nonpad_tokens_per_s_median"] = statistics.median(reported[a.warmup:])
    res.update(rss_before_mb=rss0, peak_rss_mb=_peak_mb())
    return res


def worker_bare(a: argparse.Namespace) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rss0 = _rss_mb()

    class Bare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(a.vocab, a.embed)
            self.lstm = nn.LSTM(a.embed, a.hidden, num_layers=a.layers, batch_first=True,
                                dropout=a.dropout if a.layers > 1 else 0.0)
            self.drop = nn.Dropout(a.dropout)
            self.head = nn.Linear(a.hidden, a.vocab)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            y, _ = self.lstm(self.embed(ids))
            return self.head(self.drop(y))

    model = Bare().train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    data = torch.randint(1, a.vocab, (a.steps, a.batch, a.seq_len + 1))
    times = []
    for i in range(a.steps):
        x, y = data[i, :, :-1], data[i, :, 1:]
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), y.reshape(-1), ignore_index=0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        float(loss)  # composer reads the loss every step too
        times.append(time.perf_counter())
    res = _rate(times, set(), a.warmup, a.batch * a.seq_len)
    res.update(rss_before_mb=rss0, peak_rss_mb=_peak_mb(),
               params=sum(p.numel() for p in model.parameters()))
    return res


# ---- driver ----------------------------------------------------------------------------------
def _pick_corpus(name: str | None) -> tuple[str, int, str]:
    """(corpus name or folder, vocabulary size, where it came from)."""
    from composer.corpus import load_corpus

    try:
        corpus = load_corpus(name or "bach-chorales")
        return str(corpus.root), corpus.codec.vocab_size, corpus.name
    except CorpusError:
        if name:
            raise
    sys.path.insert(0, str(HERE.parent / "tests"))
    from _corpus_fixtures import tiny_corpus  # the tests' tiny corpus, built in a temp cache

    os.environ["COMPOSER_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-train-cache-")
    tiny = tiny_corpus()
    corpus = load_corpus(tiny.name)
    return str(corpus.root), corpus.codec.vocab_size, "tiny (bach-chorales not built)"


def _run_worker(kind: str, a: argparse.Namespace, corpus: str, vocab: int) -> dict[str, Any]:
    args = [sys.executable, __file__, "--worker", kind, "--corpus", corpus, "--vocab", str(vocab)]
    for k in ("embed", "hidden", "layers", "dropout", "seq_len", "batch", "steps", "warmup",
              "threads"):
        args += [f"--{k.replace('_', '-')}", str(getattr(a, k))]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{kind} worker failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", choices=["composer", "bare"], help=argparse.SUPPRESS)
    p.add_argument("--vocab", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--corpus", default=None, help="built corpus name or folder [bach-chorales]")
    p.add_argument("--embed", type=int, default=256)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--seq-len", type=int, default=384)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per measurement")
    p.add_argument("--warmup", type=int, default=3, help="steps left out of the rate")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--rounds", type=int, default=2, help="A B rounds (interleaved)")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args()
    if a.steps <= a.warmup + 1:
        p.error("--steps must exceed --warmup + 1")
    if a.worker:
        fn = worker_composer if a.worker == "composer" else worker_bare
        print(json.dumps(fn(a)))
        return

    corpus, vocab, label = _pick_corpus(a.corpus)
    load = [_loadavg()]
    runs: dict[str, list[dict[str, Any]]] = {"composer": [], "bare": []}
    for r in range(a.rounds):
        for kind in ("composer", "bare"):
            res = _run_worker(kind, a, corpus, vocab)
            runs[kind].append(res)
            print(f"round {r + 1} {kind:8s} {res['tokens_per_s']:10,.0f} tok/s  "
                  f"step {res['step_s_median']:.3f} s  peak RSS {res['peak_rss_mb']:.0f} MiB",
                  flush=True)
        load.append(_loadavg())
    ratios = [c["tokens_per_s"] / b["tokens_per_s"]
              for c, b in zip(runs["composer"], runs["bare"], strict=True)]
    med = {k: statistics.median(x["tokens_per_s"] for x in v) for k, v in runs.items()}
    peak = {k: max(x["peak_rss_mb"] for x in v) for k, v in runs.items()}
    report = {
        "benchmark": "train throughput, composer.train.train vs a bare PyTorch loop",
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "loadavg_before_after_rounds": load},
        "torch": __import__("torch").__version__,
        "corpus": label,
        "shape": {"vocab": vocab, "embed": a.embed, "hidden": a.hidden, "layers": a.layers,
                  "dropout": a.dropout, "seq_len": a.seq_len, "batch": a.batch},
        "steps": a.steps, "warmup": a.warmup, "threads": a.threads, "rounds": a.rounds,
        "tokens_per_s_median": med,
        "ratio_per_round": [round(x, 4) for x in ratios],
        "ratio_median": round(statistics.median(ratios), 4),
        "goal_ratio": 0.90,
        "peak_rss_mb": peak,
        "runs": runs,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"composer/bare = {report['ratio_median']:.3f} (per round {report['ratio_per_round']}); "
          f"peak RSS composer {peak['composer']:.0f} MiB, bare {peak['bare']:.0f} MiB -> {a.out}")


if __name__ == "__main__":
    main()
