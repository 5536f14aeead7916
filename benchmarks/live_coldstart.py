"""Cold start of ``composer play``: command spawn to the first note at a JACK client.

Starts a private JACK server (dummy driver) and a receiving mido JACK input
in this process, then spawns ``python -m composer play --port <receiver>``
``--runs`` times and measures, for each, the time from just before the spawn
to the first note_on received (``time.monotonic()`` in the input callback).
Goal: <= 3 s.

The source is ``--model`` (default: the built-in synthetic source; pass a
checkpoint to time the real model, including its import and load).  Python's
bytecode cache is on for the spawned commands as on a user's machine (an
environment's ``PYTHONDONTWRITEBYTECODE`` is dropped for them), and one untimed
run comes first (it writes the cache).  ``--no-bytecode`` times the commands
without any cache: an empty ``PYTHONPYCACHEPREFIX`` and no writing, so every run
compiles every module it imports again.
Usage: python benchmarks/live_coldstart.py [--runs 5] [--model CKPT] [--no-bytecode]
Writes benchmarks/results/live_coldstart.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from jackfixture import jack_server  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", default="builtin:scale")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/live_coldstart.json"))
    ap.add_argument("--no-bytecode", action="store_true", help="no bytecode cache at all: every run compiles")
    args = ap.parse_args()

    import mido

    times: list[float] = []
    with jack_server() as server:
        first = threading.Event()
        stamp: list[float] = []

        def cb(msg: mido.Message) -> None:
            if msg.type == "note_on" and not first.is_set():
                stamp.append(time.monotonic())
                first.set()

        rx = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_input(
            "coldstart-rx", virtual=True, client_name="coldstart-rx", callback=cb
        )
        env = dict(os.environ)  # with the server's JACK_DEFAULT_SERVER
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if args.no_bytecode:  # read no cache (an empty prefix folder) and write none
            env |= {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="coldstart-pyc-")}
        for run in range(args.runs + 1):  # run 0 untimed: it writes the bytecode cache
            first.clear()
            stamp.clear()
            t0 = time.monotonic()
            p = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "composer",
                    "play",
                    "--api",
                    "jack",
                    "--port",
                    "coldstart-rx",
                    "--model",
                    args.model,
                    "--bars",
                    "1",
                    "-q",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            ok = first.wait(30)
            _, err = p.communicate(timeout=60)
            if not ok:
                raise SystemExit(f"no note received; composer said: {err.strip()}")
            if run:
                times.append(stamp[0] - t0)
        rx.close()
    report = {
        "benchmark": "live_coldstart",
        "model": args.model,
        "runs": args.runs,
        "first_note_s": {
            "median": round(statistics.median(times), 3),
            "min": round(min(times), 3),
            "max": round(max(times), 3),
        },
        "all_s": [round(t, 3) for t in times],
        "goal": "<= 3 s",
        "definition": "subprocess spawn -> first note_on at a JACK client (monotonic clock)",
        "bytecode_cache": not args.no_bytecode,
        "jack": {"server": server, "driver": "dummy"},
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
