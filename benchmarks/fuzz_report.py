"""A longer fuzz run than the tests: mutated and hostile MIDI files through the reader and the CLI.

Usage::

    python benchmarks/fuzz_report.py [--mutants 3000] [--cli-every 10] [--seed 1]

Every file goes through ``composer.midifile.load_score``; every ``--cli-every``-th one also
through ``composer analyze`` (in-process, CliRunner).  Outcomes are counted (ok, refused with
a MidiError, exit codes) and anything else (an uncaught exception, a traceback, an exit code
other than 0/2, a multi-line error, a case past its deadline) is recorded as a failure.  The
counts go to ``benchmarks/results/fuzz.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import _fuzz  # noqa: E402


class Hang(Exception):
    """A case ran past its deadline."""


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


def main() -> None:
    """Run the fuzz campaign and write the JSON report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=int, default=3000)
    ap.add_argument("--cli-every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fuzz.json")
    args = ap.parse_args()

    from typer.testing import CliRunner

    from composer.cli import app
    from composer.errors import MidiError
    from composer.midifile import load_score, pitched_notes

    signal.signal(signal.SIGALRM, _alarm)
    runner = CliRunner()
    cases = list(_fuzz.hostile_cases().items())
    for base_seed, base in enumerate((_fuzz.valid(24), _fuzz.running_status_abuse(), _fuzz.long_silence(64))):
        cases += [(f"b{base_seed}_{n}", d) for n, d in
                  _fuzz.mutations(base, args.mutants // 3, seed=args.seed * 100 + base_seed)]
    reader: Counter[str] = Counter()
    cli: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    slowest = (0.0, "")
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.mid"
        for i, (name, data) in enumerate(cases):
            path.write_bytes(data)
            t = time.monotonic()
            signal.alarm(20)
            try:
                pitched_notes(load_score(path))
                reader["ok"] += 1
            except MidiError:
                reader["refused"] += 1
            except Hang:
                failures.append({"case": name, "where": "load_score", "what": "over 20 s"})
            except Exception as exc:  # a failure of the contract: recorded, not raised
                failures.append({"case": name, "where": "load_score", "what": repr(exc)})
            finally:
                signal.alarm(0)
            if i % args.cli_every == 0:
                signal.alarm(30)
                try:
                    r = runner.invoke(app, ["analyze", str(path), "--json"])
                    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
                    cli[f"exit_{r.exit_code}"] += 1
                    bad = (r.exit_code not in (0, 2) or "Traceback" in r.stdout + r.stderr
                           or (r.exit_code == 2 and len(lines) != 1))
                    if bad:
                        failures.append({"case": name, "where": "analyze", "what": r.stderr[-300:]})
                except Hang:
                    failures.append({"case": name, "where": "analyze", "what": "over 30 s"})
                finally:
                    signal.alarm(0)
            slowest = max(slowest, (time.monotonic() - t, name))
    report = {
        "cases": len(cases),
        "hostile_catalogue": len(_fuzz.hostile_cases()),
        "load_score": dict(reader),
        "analyze_cli": dict(cli),
        "failures": failures,
        "tracebacks": sum("Traceback" in f["what"] for f in failures),
        "slowest_case_s": round(slowest[0], 3),
        "slowest_case": slowest[1],
        "elapsed_s": round(time.monotonic() - start, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": platform.python_version(),
        "seed": args.seed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "failures"}, indent=1))
    print(f"failures: {len(failures)}")


if __name__ == "__main__":
    main()
