"""Timing error of live playback, measured at a receiving JACK client.

Starts a private JACK server (dummy driver, ``--period`` frames at 48 kHz),
plays dense four-voice music at 120 bpm for ``--seconds`` through
:class:`composer.live.Player` (the notes generated in the same process), and
receives on a *separate process* (a mido/rtmidi JACK input whose callback
stamps each message with ``time.monotonic()``; CLOCK_MONOTONIC is shared by all
processes).

Definitions (all in ms):
- receive error = receive time - intended time (the scheduler's deadline), minus
  the median over all messages (the constant latency of JACK + rtmidi);
  p50/p99/max are of its absolute value.
- send error = time ``port.send`` returned - deadline (no offset removed).
JACK delivers MIDI once per period, so the receive error includes up to one
period of quantization (0.67 ms at 32 frames; 5.3 ms at 256).

The source is the real model (``composer.generation.stream_notes`` on the live
player's engine, the numpy LSTM) when that module and a checkpoint are available
(``--model``), else the built-in
synthetic source; the JSON says which.  ``--producer-load MS`` adds pure-Python
busy work per note in the producer thread, to imitate a model holding the GIL.

Usage: python benchmarks/live_timing.py [--seconds 60] [--period 32]
Writes benchmarks/results/live_timing.json.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from jackfixture import jack_server  # noqa: E402

RECEIVER = textwrap.dedent(
    """
    import json, sys, time, mido
    got = []
    port = mido.Backend("mido.backends.rtmidi/UNIX_JACK").open_input(
        sys.argv[1], virtual=True, client_name=sys.argv[1],
        callback=lambda m: got.append((time.monotonic(), m.hex())))
    print("ready", flush=True)
    sys.stdin.readline()
    time.sleep(0.2)
    with open(sys.argv[2], "w") as fh:
        json.dump(got, fh)
    import os
    os._exit(0)  # closing a JACK client can hang on a loaded server; the data is saved
    """
)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def source(model: str | None, seconds: float):
    from composer.config import SampleOptions

    if model and not model.startswith("builtin:"):
        try:
            from composer.generation import stream_notes
            from composer.live.sources import ENGINE

            return f"model:{model}", stream_notes(model, SampleOptions(seed=0), engine=ENGINE)
        except ImportError as exc:
            print(f"real model unavailable ({exc}); using the synthetic source", file=sys.stderr)
    from composer.live import scale_stream

    return "synthetic:builtin:scale", scale_stream(SampleOptions(seed=0))


def loaded(notes, ms: float):
    for n in notes:
        end = time.perf_counter() + ms / 1000
        while time.perf_counter() < end:
            sum(range(50))  # pure Python: holds the GIL like token-by-token sampling glue
        yield n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--period", type=int, default=64, help="JACK period in frames (48 kHz)")
    ap.add_argument("--tempo", type=float, default=120.0)
    ap.add_argument("--model", default=os.environ.get("COMPOSER_BENCH_MODEL"))
    ap.add_argument("--producer-load", type=float, default=0.0, help="ms of Python work per note")
    ap.add_argument("--jack-async", action="store_true", help="JACK's asynchronous mode (default: --sync)")
    ap.add_argument("--realtime", action="store_true", help="run jackd with realtime scheduling")
    ap.add_argument("--threads", type=int, default=0, help="BLAS threads of the numpy LSTM [0: the default]")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/live_timing.json"))
    args = ap.parse_args()
    if args.threads:
        import numpy  # noqa: F401 - loaded first: a limit reaches only the BLAS libraries already loaded
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads, user_api="blas")

    from composer.live import LiveConfig, Player, open_output

    with jack_server(period=args.period, sync=not args.jack_async, realtime=args.realtime) as server:
        name = "bench-rx"
        dump = Path(args.out).with_suffix(".recv.tmp")
        rx = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, name, str(dump)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert rx.stdout is not None and rx.stdin is not None
        rx.stdout.readline()
        out = open_output(port=name, api="jack")
        kind, notes = source(args.model, args.seconds)
        if args.producer_load:
            notes = loaded(notes, args.producer_load)
        sent: list[tuple[float, float, str]] = []
        cfg = LiveConfig(tempo=args.tempo, max_seconds=args.seconds)
        player = Player(notes, out, cfg, on_send=lambda d, t, m: sent.append((d, t, m.hex())))
        t0 = time.monotonic()
        result = player.run()
        wall = time.monotonic() - t0
        time.sleep(0.1)
        rx.stdin.write("\n")
        rx.stdin.flush()
        rx.wait(30)
        got = [tuple(x) for x in json.loads(dump.read_text())]
        dump.unlink()
        if os.environ.get("BENCH_DEBUG"):
            print(got[:12], sent[:12], file=sys.stderr)
        # Closing a JACK client can hang when the server is overloaded: do not wait for it.
        threading.Thread(target=out.close, daemon=True).start()

    # Match each sent note message to the received message with the same bytes nearest in
    # time (within 50 ms): robust to a lost message or a reordering within one JACK period.
    got_notes = [(t, h) for t, h in got if h[0] in "89"]
    sent_notes = [(d, t) for d, t, h in sent if h[0] in "89"]
    by_bytes: dict[str, list[float]] = {}
    for t, h in got_notes:
        by_bytes.setdefault(h, []).append(t)
    raw = []
    for d, ts, h in (x for x in sent if x[2][0] in "89"):
        times = by_bytes.get(h, [])
        i = bisect.bisect_left(times, ts)
        near = [times[k] for k in (i - 1, i, i + 1) if 0 <= k < len(times)]
        best = min(near, key=lambda r: abs(r - ts), default=None)
        if best is not None and abs(best - ts) < 0.05:
            raw.append(best - d)
    offset = statistics.median(raw)
    recv_err = [abs(r - offset) * 1000 for r in raw]
    send_err = [(t - d) * 1000 for d, t in sent_notes]
    report = {
        "benchmark": "live_timing",
        "source": kind,
        "producer_load_ms_per_note": args.producer_load,
        "blas_threads": args.threads or "default",
        "seconds": args.seconds,
        "wall_s": round(wall, 3),
        "tempo_bpm": args.tempo,
        "jack": {
            "server": server,
            "rate": 48000,
            "period_frames": args.period,
            "period_ms": round(args.period / 48.0, 3),
            "driver": "dummy",
            "sync": not args.jack_async,
            "realtime": args.realtime,
        },
        "messages_sent": len(sent_notes),
        "messages_received": len(got_notes),
        "messages_matched": len(raw),
        "messages_per_second": round(len(sent_notes) / args.seconds, 1),
        "late_messages": result.late,
        "constant_offset_ms": round(offset * 1000, 3),
        "receive_error_ms": {
            "p50": round(pct(recv_err, 0.5), 3),
            "p99": round(pct(recv_err, 0.99), 3),
            "max": round(max(recv_err), 3),
        },
        "send_error_ms": {
            "p50": round(pct(send_err, 0.5), 3),
            "p99": round(pct(send_err, 0.99), 3),
            "max": round(max(send_err), 3),
        },
        "goal": "receive p99 <= 2 ms",
        "receiver_timestamps": "mido callback time.monotonic() in a separate process",
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
