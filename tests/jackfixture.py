"""A private JACK server (dummy driver) for tests and benchmarks that need real MIDI ports.

``jack_server()`` starts ``jackd --no-realtime --sync -n <unique name> -d dummy``,
waits until it answers, and kills it afterwards.  ``--sync`` matters: without
realtime scheduling on a busy machine (CI), a JACK2 server in its default
asynchronous mode does not wait for a late client, and the MIDI events that
client wrote in that cycle are lost (we saw 3-13 of 296 events vanish even
with ``jack_midi_dump`` as the receiver).  Clients find it through the
``JACK_DEFAULT_SERVER`` environment variable, which the context manager sets
(and restores).  Tests skip (with the reason) only when ``jackd`` is not on
PATH or the server does not start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest


class JackUnavailable(RuntimeError):
    """jackd is missing or would not start."""


@contextlib.contextmanager
def jack_server(period: int = 64, rate: int = 48000, sync: bool = True, realtime: bool = False) -> Iterator[str]:
    """Run a dummy-driver JACK server for the duration of the block; yield its name.

    The defaults suit tests on a busy machine; benchmarks may ask for JACK's own defaults
    (asynchronous, realtime scheduling where the system grants it).
    """
    jackd = shutil.which("jackd")
    if jackd is None:
        raise JackUnavailable("jackd is not on PATH (Debian/Ubuntu: apt install jackd2)")
    name = f"composer-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    proc = subprocess.Popen(
        [jackd, "--realtime" if realtime else "--no-realtime", *(["--sync"] if sync else []),
         "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    old = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-500:] if proc.stderr else ""
                hint = (" (stale JACK shared memory from killed servers: with no jackd running, "
                        "rm -rf /dev/shm/jack*)" if "Too many servers" in err else "")
                raise JackUnavailable(f"jackd exited with {proc.returncode}: {err.strip()}{hint}")
            ok = (
                subprocess.run(
                    ["jack_lsp"], env=dict(os.environ), capture_output=True, timeout=5
                ).returncode
                == 0
                if shutil.which("jack_lsp")
                else True
            )
            if ok:
                break
            if time.monotonic() > deadline:
                raise JackUnavailable("jackd did not answer within 10 s")
            time.sleep(0.1)
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def jack() -> Iterator[str]:
    """Pytest fixture: a private JACK server's name (skips if JACK is unavailable)."""
    try:
        with jack_server() as name:
            yield name
    except JackUnavailable as exc:
        pytest.skip(f"JACK unavailable: {exc}")
