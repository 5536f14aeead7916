"""Live playback through real MIDI ports: a private JACK server with the dummy driver.

The command under test runs as a real subprocess (``python -m composer play``)
with the built-in test source; a mido input port in this process receives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from helpers import balanced
from jackfixture import jack  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.jack

BACKEND = "mido.backends.rtmidi/UNIX_JACK"


class Receiver:
    """A virtual JACK MIDI input collecting (time, message)."""

    def __init__(self) -> None:
        import mido

        self.name = f"rx-{uuid.uuid4().hex[:6]}"
        self.got: list[tuple[float, object]] = []
        self.lock = threading.Lock()
        self.port = mido.Backend(BACKEND).open_input(
            self.name, virtual=True, client_name=self.name, callback=self._cb
        )

    def _cb(self, msg) -> None:
        with self.lock:
            self.got.append((time.monotonic(), msg))

    def messages(self):
        with self.lock:
            return [m for _, m in self.got]

    def count(self, kind: str) -> int:
        return sum(1 for m in self.messages() if m.type == kind)

    def wait_for(self, pred, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.port.close()


def ends_with_panic(msgs, channel: int = 0) -> bool:
    ccs = [(m.control, m.channel) for m in msgs if m.type == "control_change"]
    return ccs[-2:] == [(123, channel), (120, channel)]


def composer(*args: str) -> subprocess.Popen:
    env = dict(os.environ, COMPOSER_TEST_SOURCE="scale")
    return subprocess.Popen(
        [sys.executable, "-m", "composer", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class StderrWatch:
    """Read a process's stderr on a thread; ``wait(text)`` until a line contains ``text``."""

    def __init__(self, p: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(p,), daemon=True)
        self._thread.start()

    def _read(self, p: subprocess.Popen) -> None:
        assert p.stderr is not None
        for line in p.stderr:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait(self, text: str, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: any(text in line for line in self.lines), timeout)

    def text(self) -> str:
        self._thread.join(5)
        with self._cond:
            return "".join(self.lines)


@pytest.fixture
def rx(jack):  # noqa: F811
    r = Receiver()
    yield r
    r.close()


def test_normal_end_releases_every_note(rx):
    p = composer(
        "play",
        "--api",
        "jack",
        "--port",
        rx.name,
        "--bars",
        "2",
        "--tempo",
        "240",
        "--channel",
        "3",
        "-q",
    )
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    time.sleep(0.1)
    msgs = rx.messages()
    assert sum(m.type == "note_on" for m in msgs) == 36
    assert balanced(msgs) and ends_with_panic(msgs, channel=2)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_releases_every_note(rx, sig, code):
    p = composer("play", "--api", "jack", "--port", rx.name, "-q")
    try:
        assert rx.wait_for(lambda: rx.count("note_on") >= 12), "no notes arrived"
        p.send_signal(sig)
        _, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == code, err
    assert "interrupted" in err or "terminated" in err
    time.sleep(0.1)
    msgs = rx.messages()
    assert balanced(msgs) and ends_with_panic(msgs)


def test_clock_out_24_per_beat(rx):
    p = composer(
        "play",
        "--api",
        "jack",
        "--port",
        rx.name,
        "--bars",
        "1",
        "--tempo",
        "240",
        "--clock-out",
        "-q",
    )
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    time.sleep(0.1)
    msgs = rx.messages()
    kinds = [m.type for m in msgs]
    assert kinds.count("start") == 1 and kinds.count("stop") == 1
    assert kinds.index("start") < kinds.index("clock") and kinds.index("stop") > kinds.index(
        "clock"
    )
    # beats 0..3.5 (the last note-off at beat 4 ends the piece): 3 * 24 + 12 + ticks at beat 4
    assert 4 * 24 - 12 <= kinds.count("clock") <= 4 * 24 + 1
    with rx.lock:
        ticks = [t for t, m in rx.got if m.type == "clock"]
    beat = (ticks[72] - ticks[0]) / 3
    assert beat == pytest.approx(0.25, abs=0.01)  # 240 bpm; JACK periods add < 2 ms


def test_vanished_port_is_an_error(jack):  # noqa: F811
    r = Receiver()
    p = composer("play", "--api", "jack", "--port", r.name, "-q")
    try:
        assert r.wait_for(lambda: r.count("note_on") >= 4)
        r.close()
        _, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 2
    assert "vanished" in err and len(err.strip().splitlines()) == 1


def test_a_stopped_jack_server_is_an_error():
    """A JACK client keeps listing the ports it knew after its server has gone: the session must still notice."""
    from jackfixture import JackUnavailable, jack_server

    try:
        with jack_server() as name:
            r = Receiver()
            p = composer("play", "--api", "jack", "--port", r.name, "-q")
            try:
                assert r.wait_for(lambda: r.count("note_on") >= 4), "no notes arrived"
                socket = next(f"{d}/jack_{name}_{os.getuid()}_0" for d in ("/dev/shm", "/tmp")
                              if os.path.exists(f"{d}/jack_{name}_{os.getuid()}_0"))
                os.unlink(socket)  # as jackd does when it stops (the server itself is stopped after the block)
                _, err = p.communicate(timeout=15)
            finally:
                if p.poll() is None:
                    p.kill()
                r.close()
    except JackUnavailable as exc:
        pytest.skip(f"JACK unavailable: {exc}")
    assert p.returncode == 2, err
    assert "error: the JACK server stopped" in err and len(err.strip().splitlines()) == 1


def test_jam_input_that_vanishes_is_an_error(rx):
    import mido

    tx_name = f"tx-{uuid.uuid4().hex[:6]}"
    tx = mido.Backend(BACKEND).open_output(tx_name, virtual=True, client_name=tx_name)
    p = composer("jam", "--api", "jack", "--in", tx_name, "--port", rx.name)
    err = StderrWatch(p)
    try:
        assert err.wait("listening on", timeout=60), err.lines
        tx.close()
        p.wait(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 2, err.text()
    assert f"error: MIDI port '{tx_name}" in err.text() and "vanished" in err.text()


def test_missing_port_lists_ports(rx):
    p = composer("play", "--api", "jack", "--port", "no-such-port", "-q")
    _, err = p.communicate(timeout=30)
    assert p.returncode == 2
    assert "no MIDI output port matches 'no-such-port'" in err and rx.name in err


def test_jam_answers_a_phrase(rx):
    import mido

    tx_name = f"tx-{uuid.uuid4().hex[:6]}"
    tx = mido.Backend(BACKEND).open_output(tx_name, virtual=True, client_name=tx_name)
    p = composer(
        "jam",
        "--api",
        "jack",
        "--in",
        tx_name,
        "--port",
        rx.name,
        "--tempo",
        "240",
        "--answer-bars",
        "1",
        "--silence",
        "2",
        "--rounds",
        "1",
    )
    err = StderrWatch(p)
    try:
        # Play only once jam says it listens (its input and output are open): on a loaded
        # machine its start-up can take longer than any fixed sleep, and notes sent before
        # it connects are lost.  (Polling ``jack_lsp`` instead stalls a --sync server.)
        assert err.wait("listening on", timeout=60), err.lines
        time.sleep(0.25)  # margin over jam's own settle time, for a loaded server
        phrase = [60, 62, 64, 65]
        for pitch in phrase:
            tx.send(mido.Message("note_on", note=pitch, velocity=90))
            time.sleep(0.1)
            tx.send(mido.Message("note_off", note=pitch))
            time.sleep(0.02)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
        tx.close()
    assert p.returncode == 0, err.text()
    time.sleep(0.1)
    msgs = rx.messages()
    ons = [m.note for m in msgs if m.type == "note_on"]
    assert ons[:4] == phrase[::-1]  # the test source answers in retrograde
    assert balanced(msgs) and ends_with_panic(msgs)


def test_bundled_model_plays_live_and_stops_clean(rx):
    """The real chorale model (not the synthetic source) through a real port, stopped by SIGINT."""
    env = {k: v for k, v in os.environ.items() if k != "COMPOSER_TEST_SOURCE"}
    p = subprocess.Popen(
        [sys.executable, "-m", "composer", "play", "--model", "chorales", "--api", "jack", "--port", rx.name,
         "--seed", "1", "--tempo", "240", "-q"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert rx.wait_for(lambda: rx.count("note_on") >= 24, timeout=60), "no notes arrived"
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    time.sleep(0.1)
    msgs = rx.messages()
    notes = [m.note for m in msgs if m.type == "note_on" and m.velocity > 0]
    assert len(set(notes)) >= 6  # music, not one repeated note
    assert balanced(msgs) and ends_with_panic(msgs)


def test_ports_of_an_api_that_is_down_is_one_line_exit_2():
    """``composer ports --api jack`` with no JACK server: one line saying so (not libjack's own noise), exit 2."""
    env = dict(os.environ, JACK_DEFAULT_SERVER=f"none-{uuid.uuid4().hex[:6]}", JACK_NO_START_SERVER="1")
    p = subprocess.run([sys.executable, "-m", "composer", "ports", "--api", "jack"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and p.stderr.startswith("error: jack: unavailable")
