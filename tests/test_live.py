"""Unit tests of the live scheduler with a fake clock and a fake port (no MIDI system)."""

from __future__ import annotations

import random
import threading

import mido
import pytest

from composer.errors import InputError, PortError
from composer.events import Note
from composer.live import CLOCK_PPQN, LiveConfig, Player, TempoMap, note_events
from composer.live_clock import ClockFollower
from composer.live_jam import PhraseListener
from composer.live_sources import builtin_name, note_stream, retrograde_answer, scale_stream
from composer.ports import backend_name, match_port


class FakeClock:
    def __init__(self, jitter: float = 0.0, seed: int = 0) -> None:
        self.t = 100.0
        self.jitter = jitter
        self.rng = random.Random(seed)

    def now(self) -> float:
        return self.t

    def sleep(self, d: float) -> None:
        # Oversleeps by up to `jitter`, as a real OS does.
        self.t += max(0.0, d) + self.rng.uniform(0, self.jitter)


class FakePort:
    name = "fake"

    def __init__(self, clock: FakeClock, fail_after: int | None = None) -> None:
        self.clock = clock
        self.sent: list[tuple[float, mido.Message]] = []
        self.fail_after = fail_after

    def send(self, msg: mido.Message) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise OSError("port vanished")
        self.sent.append((self.clock.t, msg))


def cfg(**kw) -> LiveConfig:
    base = dict(tempo=120.0, spin=0.0, latency=0.0, prefill=0.0)
    base.update(kw)
    return LiveConfig(**base)


def run(notes, clock=None, **kw):
    clock = clock or FakeClock()
    port = FakePort(clock)
    player = Player(notes, port, cfg(**kw), now=clock.now, sleep=clock.sleep)
    result = player.run()
    return result, port, clock


def balanced(sent) -> bool:
    """Every note-on is followed by a note-off of the same (channel, pitch)."""
    open_: dict[tuple[int, int], int] = {}
    for _, m in sent:
        if m.type == "note_on" and m.velocity > 0:
            open_[(m.channel, m.note)] = open_.get((m.channel, m.note), 0) + 1
        elif m.type == "note_off" or (m.type == "note_on" and m.velocity == 0):
            open_[(m.channel, m.note)] = 0
    return not any(open_.values())


def test_deadlines_exact():
    notes = [Note(i * 0.5, 60 + i % 12, 0.25) for i in range(16)]
    result, port, clock = run(notes)
    t0 = port.sent[0][0]
    ons = [(t, m) for t, m in port.sent if m.type == "note_on"]
    assert len(ons) == 16
    for i, (t, m) in enumerate(ons):
        assert t == pytest.approx(t0 + i * 0.25, abs=1e-9)  # 120 bpm: 0.5 beat = 0.25 s
        assert m.note == 60 + i % 12
    offs = [t for t, m in port.sent if m.type == "note_off"]
    assert offs[0] == pytest.approx(t0 + 0.125, abs=1e-9)
    assert result.reason == "end" and result.notes_sent == 16


def test_no_drift_over_many_events_with_sleep_jitter():
    # 4000 notes (1000 beats); the OS oversleeps up to 0.5 ms each time.
    notes = [Note(i * 0.25, 60, 0.2) for i in range(4000)]
    clock = FakeClock(jitter=0.0005)
    result, port, _ = run(notes, clock)
    t0 = port.sent[0][0]
    ons = [t for t, m in port.sent if m.type == "note_on"]
    errors = [t - (t0 + i * 0.125) for i, t in enumerate(ons)]
    assert max(abs(e) for e in errors) <= 0.0006  # bounded by one oversleep, not accumulated
    assert abs(errors[-1]) <= 0.0006


def test_tempo_change_takes_effect_at_next_beat():
    clock = FakeClock()
    port = FakePort(clock)
    notes = [Note(float(i), 60, 0.5) for i in range(8)]
    player = Player(notes, port, cfg(), now=clock.now, sleep=clock.sleep)
    orig_send = port.send

    def send(msg):
        orig_send(msg)
        if msg.type == "note_on" and len([1 for _, m in port.sent if m.type == "note_on"]) == 3:
            clock.t += 0.1  # now at beat 2.2
            player.set_tempo(60.0)

    port.send = send  # type: ignore[method-assign]
    player.run()
    ons = [t for t, m in port.sent if m.type == "note_on"]
    t0 = ons[0]
    # beats 0..2 at 0.5 s/beat; from beat 3 on at 1 s/beat
    assert ons[3] == pytest.approx(t0 + 1.5, abs=1e-9)
    assert ons[4] == pytest.approx(t0 + 2.5, abs=1e-9)
    assert ons[7] == pytest.approx(t0 + 5.5, abs=1e-9)


def test_tempo_map_round_trip():
    tm = TempoMap(10.0, 120)
    tm.change(4.0, 60)
    assert tm.time_at(4.0) == pytest.approx(12.0)
    assert tm.time_at(6.0) == pytest.approx(14.0)
    assert tm.beat_at(14.0) == pytest.approx(6.0)
    assert tm.bpm == 60


def test_clean_stop_sends_note_offs_and_ccs():
    clock = FakeClock()
    port = FakePort(clock)
    notes = [Note(0.0, p, 100.0) for p in (48, 55, 64)] + [Note(1.0, 72, 100.0)]
    player = Player(notes, port, cfg(channel=3), now=clock.now, sleep=clock.sleep)
    orig = clock.sleep

    def sleep(d):
        orig(d)
        if clock.t - port.sent[0][0] > 2.0:
            player.stop()

    clock.sleep = sleep  # type: ignore[method-assign]
    player._sleep = sleep
    result = player.run()
    assert result.reason == "stopped"
    msgs = [m for _, m in port.sent]
    offs = {m.note for m in msgs if m.type == "note_off"}
    assert offs == {48, 55, 64, 72}
    assert all(m.channel == 2 for m in msgs)
    assert [(m.type, m.control) for m in msgs[-2:]] == [
        ("control_change", 123),
        ("control_change", 120),
    ]
    assert balanced(port.sent)
    assert len(result.played) == 4 and all(n.end <= 5.0 for n in result.played)


def test_exception_in_source_still_releases():
    def source():
        yield Note(0.0, 60, 50.0)
        yield Note(0.5, 64, 50.0)
        raise RuntimeError("model crashed")

    clock = FakeClock()
    port = FakePort(clock)
    player = Player(source(), port, cfg(), now=clock.now, sleep=clock.sleep)
    with pytest.raises(RuntimeError, match="model crashed"):
        player.run()
    assert balanced(port.sent)
    assert port.sent[-1][1].control == 120


def test_port_failure_is_port_error_and_releases():
    clock = FakeClock()
    port = FakePort(clock, fail_after=3)
    notes = [Note(i * 0.5, 60 + i, 1.0) for i in range(10)]
    player = Player(notes, port, cfg(), now=clock.now, sleep=clock.sleep)
    with pytest.raises(PortError, match="closed or gone"):
        player.run()


def test_same_pitch_overlap_never_sticks():
    notes = [Note(0.0, 60, 2.0), Note(1.0, 60, 0.5), Note(1.0, 62, 3.0), Note(1.5, 60, 0.25)]
    _, port, _ = run(notes)
    assert balanced(port.sent)
    last = port.sent[-3][1]  # before the two CCs
    assert last.type == "note_off"


def test_max_beats_and_seconds_cut_notes():
    result, port, _ = run(scale_stream(), max_beats=8.0)
    assert result.reason in ("end", "max_beats")
    assert balanced(port.sent)
    assert max(n.end for n in result.played) <= 8.0 + 1e-9
    result, port, _ = run(scale_stream(), max_seconds=3.0)
    assert result.reason == "max_seconds" and balanced(port.sent)
    assert port.sent[-1][0] - port.sent[0][0] <= 3.0 + 1e-9


def test_clock_out_24_per_beat_and_start_stop():
    notes = [Note(float(i), 60, 0.5) for i in range(4)]
    _, port, _ = run(notes, clock_out=True)
    msgs = [m.type for _, m in port.sent]
    assert msgs[0] == "start" and msgs[-1] == "stop"
    ticks = [t for t, m in port.sent if m.type == "clock"]
    assert len(ticks) == 3 * CLOCK_PPQN + 12 + 1  # beats 0..3.5 inclusive
    assert ticks[CLOCK_PPQN] - ticks[0] == pytest.approx(0.5, abs=1e-9)
    # a tick comes before the note on the same beat
    first_on = msgs.index("note_on")
    assert msgs[first_on - 1] == "clock"


def test_lookahead_bounds_queue():
    clock = FakeClock()
    port = FakePort(clock)
    pulled = []

    def source():
        for n in scale_stream():
            pulled.append(n.start)
            yield n

    player = Player(
        source(), port, cfg(lookahead=2.0, max_seconds=4.0), now=clock.now, sleep=clock.sleep
    )
    player.run()
    # 4 s at 120 bpm = 8 beats played; with 2 s (4 beats) ahead the source is pulled ~12 beats
    assert max(pulled) <= 8 + 4 + 1


def test_snapshot_from_another_thread():
    clock = FakeClock()
    port = FakePort(clock)
    player = Player(scale_stream(bars=4), port, cfg(), now=clock.now, sleep=clock.sleep)
    snaps = []
    t = threading.Thread(target=lambda: snaps.append(player.snapshot()))
    t.start()
    player.run()
    t.join()
    s = player.snapshot()
    assert s.state == "stopped" and s.notes_sent == 4 * 18 and s.bar >= 1


def test_record_contents(tmp_path):
    from composer.midifile import load_score, pitched_notes, score_from_notes, write_score

    notes = list(scale_stream(bars=2))
    result, _, _ = run(notes)
    path = write_score(score_from_notes(result.played, tempo=120), tmp_path / "rec.mid")
    back = pitched_notes(load_score(path))
    assert [(n.start, n.pitch) for n in back] == [(n.start, n.pitch) for n in sorted(notes)]
    with pytest.raises(Exception, match="exists"):
        write_score(score_from_notes(result.played), path)


def test_config_validation():
    with pytest.raises(ValueError, match="channel must be 1-16, got 17"):
        LiveConfig(channel=17)
    with pytest.raises(ValueError, match="program"):
        LiveConfig(program=128)


def test_note_events_order_offs_first():
    evs = list(note_events([Note(0, 60, 1), Note(1, 60, 1)]))
    assert [(e.beat, e.kind) for e in evs] == [(0, 1), (1, 0), (1, 1), (2, 0)]


def test_builtin_sources(monkeypatch):
    monkeypatch.delenv("COMPOSER_TEST_SOURCE", raising=False)
    assert builtin_name("builtin:scale") == "scale"
    assert builtin_name(None) is None
    monkeypatch.setenv("COMPOSER_TEST_SOURCE", "scale")
    assert builtin_name(None) == "scale"
    with pytest.raises(InputError, match="builtin:scale"):
        builtin_name("builtin:nope")
    primer = [Note(0, 60, 1), Note(1, 62, 1), Note(2, 64, 2)]
    ans = retrograde_answer(primer, 1)
    assert [n.pitch for n in ans] == [64, 62, 60] and ans[0].start == 4.0
    stream = list(
        note_stream(
            "builtin:scale", __import__("composer.config").config.SampleOptions(), primer, bars=1
        )
    )
    assert stream[:3] == primer and stream[3].start == 4.0


def test_match_port():
    names = ["Midi Through:0", "composer:out", "Synth A:in"]
    assert match_port("synth", names, "output") == "Synth A:in"
    with pytest.raises(PortError, match="available: 'Midi Through:0'"):
        match_port("nothing", names, "output")
    assert backend_name("jack") == "mido.backends.rtmidi/UNIX_JACK"
    with pytest.raises(InputError):
        backend_name("oss")


def test_clock_follower_tempo_and_start_stop():
    f = ClockFollower(window=24)
    events = []
    f.on_start = lambda: events.append("start")
    f.on_stop = lambda: events.append("stop")
    f.feed(mido.Message("start"), 0.0)
    t = 0.0
    for _ in range(48):
        t += 60.0 / 100.0 / 24
        f.feed(mido.Message("clock"), t)
    assert f.tempo == pytest.approx(100.0, rel=1e-6)
    f.feed(mido.Message("stop"), t)
    assert events == ["start", "stop"]


def test_phrase_listener_waits_for_silence_and_release():
    lst = PhraseListener(tempo=120.0, silence=2.0)
    lst.feed(mido.Message("note_on", note=60, velocity=90), 10.0)
    lst.feed(mido.Message("note_off", note=60), 10.5)
    lst.feed(mido.Message("note_on", note=62, velocity=90), 10.5)
    assert lst.take_phrase(20.0) is None  # a key still held
    lst.feed(mido.Message("note_on", note=62, velocity=0), 11.0)
    assert lst.take_phrase(12.9) is None  # silence not long enough
    phrase = lst.take_phrase(13.1)
    assert phrase is not None
    assert [(n.start, n.pitch, n.duration) for n in phrase] == [(0.0, 60, 1.0), (1.0, 62, 1.0)]
    assert lst.take_phrase(14.0) is None
