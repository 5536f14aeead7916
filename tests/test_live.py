"""Unit tests of the live scheduler with a fake clock and a fake port (no MIDI system)."""

from __future__ import annotations

import dataclasses
import random
import signal
import threading

import mido
import pytest
from helpers import balanced

from composer.config import SampleOptions
from composer.errors import InputError, OutputError, PortError
from composer.events import Note
from composer.live import (
    CLOCK_PPQN,
    ClockFollower,
    Jam,
    JamConfig,
    LiveConfig,
    LiveStatus,
    Output,
    PhraseListener,
    Player,
    Recording,
    SessionView,
    TempoMap,
    backend_name,
    builtin_name,
    match_port,
    note_events,
    note_stream,
    play_config,
    play_session,
    retrograde_answer,
    scale_stream,
    status_text,
    torch_threads,
)


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


def messages(port: FakePort) -> list[mido.Message]:
    return [m for _, m in port.sent]


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
    assert balanced(messages(port))
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
    assert balanced(messages(port))
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
    assert balanced(messages(port))
    last = port.sent[-3][1]  # before the two CCs
    assert last.type == "note_off"


def test_max_beats_and_seconds_cut_notes():
    result, port, _ = run(scale_stream(), max_beats=8.0)
    assert result.reason in ("end", "max_beats")
    assert balanced(messages(port))
    assert max(n.end for n in result.played) <= 8.0 + 1e-9
    result, port, _ = run(scale_stream(), max_seconds=3.0)
    assert result.reason == "max_seconds" and balanced(messages(port))
    assert port.sent[-1][0] - port.sent[0][0] <= 3.0 + 1e-9


def test_nothing_starts_at_the_end_and_the_end_comes_at_its_time():
    """A note due exactly at --seconds' end is not sent (it would be cut at once: a click); with the clock out,
    --bars ends at its last beat's time, not a tick before it."""
    notes = [Note(i * 0.5, 60 + i % 5, 0.5) for i in range(32)]  # 0.25 s apart at 120 bpm
    result, port, _ = run(notes, max_seconds=2.0)
    t0 = port.sent[0][0]
    assert result.reason == "max_seconds" and balanced(messages(port))
    assert max(t for t, m in port.sent if m.type == "note_on") - t0 == pytest.approx(1.75)
    assert port.sent[-1][0] - t0 == pytest.approx(2.0)
    chord = [Note(0.0, p, 4.0) for p in (48, 60, 64, 67)] + [Note(4.0, p, 4.0) for p in (50, 62, 65, 69)]
    for clock_out in (False, True):
        result, port, _ = run(chord, max_beats=4.0, clock_out=clock_out)
        first = next(t for t, m in port.sent if m.type == "note_on")
        ons = [m.note for _, m in port.sent if m.type == "note_on"]
        assert ons == [48, 60, 64, 67] and balanced(messages(port))
        offs = [t for t, m in port.sent if m.type == "note_off"]
        assert min(offs) - first == pytest.approx(2.0)  # the chord held its four beats (2 s)
        if clock_out:
            assert port.sent[-1][1].type == "stop" and port.sent[-1][0] - first == pytest.approx(2.0)


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
    snaps: list[LiveStatus] = []
    errors: list[BaseException] = []

    def watch() -> None:
        try:
            while not snaps or snaps[-1].state != "stopped":
                snaps.append(player.snapshot())
        except BaseException as exc:  # fails the test below, not just this thread
            errors.append(exc)

    t = threading.Thread(target=watch)
    t.start()
    player.run()
    t.join(10)
    assert not t.is_alive() and errors == []
    assert snaps and all(isinstance(s, LiveStatus) for s in snaps)
    assert snaps[-1].state == "stopped"
    assert {s.state for s in snaps} <= {"waiting", "playing", "stopped"}
    notes_sent = [s.notes_sent for s in snaps]
    assert notes_sent == sorted(notes_sent)  # never goes back
    s = player.snapshot()
    assert s.state == "stopped" and s.notes_sent == 4 * 18 and s.bar >= 1


def test_record_contents(tmp_path):
    from composer.midifile import load_score, pitched_notes, score_from_notes, write_score

    notes = list(scale_stream(bars=2))
    result, _, _ = run(notes)
    path = write_score(score_from_notes(result.played, tempo=120), tmp_path / "rec.mid")
    back = pitched_notes(load_score(path))
    assert [(n.start, n.pitch) for n in back] == [(n.start, n.pitch) for n in sorted(notes)]
    with pytest.raises(OutputError, match="exists"):
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
    stream = list(note_stream("builtin:scale", SampleOptions(), primer, bars=1))
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


# ---- Jam: call and response with the fake clock ------------------------------------------------
def ends_with_panic(msgs: list[mido.Message]) -> bool:
    return [(m.type, m.control) for m in msgs[-2:]] == [("control_change", 123), ("control_change", 120)]


def play_phrase(listener: PhraseListener, t: float, pitches: list[int], step: float = 0.25) -> float:
    """Feed ``pitches`` as quarter-beat notes (120 bpm) from time ``t``; return the time after."""
    for pitch in pitches:
        listener.feed(mido.Message("note_on", note=pitch, velocity=90), t)
        listener.feed(mido.Message("note_off", note=pitch), t + step)
        t += step
    return t


def make_jam(clock: FakeClock, port: FakePort, **jam_kw) -> Jam:
    listener = PhraseListener(tempo=120.0, silence=1.0)
    answer = lambda primer, bars: retrograde_answer(primer, bars)  # noqa: E731
    return Jam(listener, port, answer, cfg(), JamConfig(answer_bars=1, **jam_kw), now=clock.now, sleep=clock.sleep)


def test_jam_answers_a_phrase():
    clock = FakeClock()
    port = FakePort(clock)
    jam = make_jam(clock, port, rounds=1)
    t_end = play_phrase(jam.listener, clock.t, [60, 62, 64, 65])
    result = jam.run()
    msgs = messages(port)
    ons = [m.note for m in msgs if m.type == "note_on"]
    assert result.rounds == 1
    assert ons == [65, 64, 62, 60] * 2  # the test continuation: retrograde, repeated to fill one bar
    assert balanced(msgs) and ends_with_panic(msgs)
    first_on = next(t for t, m in port.sent if m.type == "note_on")
    assert first_on >= t_end + 1.0  # answered after the second of silence, not before
    assert [n.pitch for n in result.played] == [60, 62, 64, 65] + ons  # phrase, then answer
    assert result.played[4].start >= result.played[3].end + 2.0 - 1e-9  # after 2 beats (1 s) of silence
    assert jam.listener.listening and jam.snapshot() is None


def test_jam_answers_on_the_players_bar_lines():
    """The answer comes in on a bar line of the player's time (counted from the phrase's first note), the first
    after it is ready: a phrase of six quarter notes (a bar and a half) is answered at beat 8 or 12, not 7.5 or 10."""
    for pitches, latency in (([60, 62, 64, 65, 67, 69], 0.0), ([60, 62], 0.3)):
        clock = FakeClock()
        port = FakePort(clock)
        listener = PhraseListener(tempo=120.0, silence=1.0)
        jam = Jam(listener, port, lambda primer, bars: retrograde_answer(primer, bars), cfg(latency=latency),
                  JamConfig(answer_bars=1, rounds=1), now=clock.now, sleep=clock.sleep)
        t0 = clock.t
        play_phrase(listener, t0, pitches, step=0.5)  # quarter notes at 120 bpm
        jam.run()
        first_on = next(t for t, m in port.sent if m.type == "note_on")
        beats = (first_on - t0) / 0.5
        assert beats == pytest.approx(round(beats / 4) * 4, abs=1e-6), beats  # on a bar line
        assert first_on >= t0 + len(pitches) * 0.5 + 1.0 - 1e-9  # after the phrase and its second of silence


def test_jam_honours_rounds_and_ignores_input_while_answering():
    clock = FakeClock()
    port = FakePort(clock)
    jam = make_jam(clock, port, rounds=2)
    orig_send, orig_sleep = port.send, clock.sleep
    fed = []

    def send(msg):
        orig_send(msg)
        if msg.type == "note_on" and not fed:  # played over the answer: must not count
            fed.append(play_phrase(jam.listener, clock.t, [90]))

    def sleep(d):
        orig_sleep(d)
        if fed and len(fed) == 1 and jam.listener.listening and port.sent:
            fed.append(play_phrase(jam.listener, clock.t, [70, 72]))  # the second phrase

    port.send = send  # type: ignore[method-assign]
    jam._sleep = sleep
    play_phrase(jam.listener, clock.t, [60, 62, 64])
    result = jam.run()
    ons = [m.note for m in messages(port) if m.type == "note_on"]
    assert result.rounds == 2
    assert ons == [64, 62, 60, 64, 62, 60, 64, 62] + [72, 70] * 4  # one bar each
    assert 90 not in [n.pitch for n in result.played]
    assert balanced(messages(port))


def test_jam_stop_releases_the_answer():
    clock = FakeClock()
    port = FakePort(clock)
    jam = make_jam(clock, port, rounds=0)  # until stopped
    orig_send = port.send

    def send(msg):
        orig_send(msg)
        if msg.type == "note_on" and msg.note == 62:
            jam.stop()

    port.send = send  # type: ignore[method-assign]
    play_phrase(jam.listener, clock.t, [60, 62, 64], step=1.0)  # long notes: stopped mid-note
    result = jam.run()
    msgs = messages(port)
    assert result.rounds == 1
    assert [m.note for m in msgs if m.type == "note_on"] == [64, 62]
    assert balanced(msgs) and ends_with_panic(msgs)


def test_jam_stop_while_listening_and_config():
    clock = FakeClock()
    jam = make_jam(clock, FakePort(clock), rounds=0)
    orig = clock.sleep

    def sleep(d):
        orig(d)
        if clock.t > 105:
            jam.stop()

    jam._sleep = sleep
    assert jam.run().rounds == 0
    with pytest.raises(ValueError, match="answer_bars"):
        JamConfig(answer_bars=0)


# ---- the session: signals, a vanished port, COMPOSER_THREADS ------------------------------------
class ClosablePort(FakePort):
    closed = False

    def close(self) -> None:
        self.closed = True


class FakeOutput(Output):
    """An Output that 'opens' a fake port, optionally watched by a watch that says it vanished."""

    def __init__(self, port: ClosablePort, gone_after: int | None = None) -> None:
        super().__init__(port="fake")
        object.__setattr__(self, "fake", port)
        object.__setattr__(self, "gone_after", gone_after)

    def open(self):
        return self.fake

    def check(self) -> None:  # nothing to look up: the fake port is there
        pass

    def using(self, api):
        return self

    def watch(self, port):
        return None if self.gone_after is None else FakeWatch(self.gone_after)


class FakeWatch:
    name = "fake"

    def __init__(self, gone_after: int) -> None:
        self.calls = 0
        self.gone_after = gone_after
        self.closed = False

    def exists(self) -> bool:
        self.calls += 1
        return self.calls <= self.gone_after

    def close(self) -> None:
        self.closed = True


class RecordingView(SessionView):
    def __init__(self) -> None:
        self.said: list[tuple[int, object]] = []

    def recorded(self, count, path) -> None:
        self.said.append((count, path))


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_session_signal_stops_cleanly_with_exit_code(tmp_path, sig, code):
    clock = FakeClock()
    port = ClosablePort(clock)
    orig = clock.sleep

    def sleep(d):
        orig(d)
        if sum(m.type == "note_on" for m in messages(port)) >= 20 and not raised:
            raised.append(sig)
            signal.raise_signal(sig)  # the handler runs here, on the main (sender) thread

    raised: list[int] = []
    clock.sleep = sleep  # type: ignore[method-assign]
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    view = RecordingView()
    done = play_session(
        "builtin:scale", SampleOptions(), cfg(), FakeOutput(port),
        record=Recording(tmp_path / "rec.mid"), view=view, now=clock.now, sleep=clock.sleep,
    )
    assert done.exit_code == code and done.result.reason == "stopped"
    msgs = messages(port)
    assert balanced(msgs) and ends_with_panic(msgs) and port.closed
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored
    assert view.said == [(len(done.result.played), tmp_path / "rec.mid")]
    assert (tmp_path / "rec.mid").stat().st_size > 0
    assert done.result.notes_sent >= 20


def test_session_vanished_port_is_a_port_error():
    clock = FakeClock(jitter=0.0001)
    port = ClosablePort(clock)
    output = FakeOutput(port, gone_after=0)  # gone at the first check (0.5 s into playback)
    with pytest.raises(PortError, match="'fake' vanished"):
        play_session("builtin:scale", SampleOptions(), cfg(), output, now=clock.now, sleep=clock.sleep)
    msgs = messages(port)
    assert any(m.type == "note_on" for m in msgs)
    assert balanced(msgs) and ends_with_panic(msgs) and port.closed


def test_session_without_signal_exits_0_and_refuses_an_existing_record(tmp_path):
    clock = FakeClock()
    port = ClosablePort(clock)
    cfg_ = play_config([Note(0.0, 60, 1.5)], 1, tempo=120.0, spin=0.0, latency=0.0, prefill=0.0)
    assert cfg_.max_beats == 8.0  # one bar after the primer's bar
    done = play_session("builtin:scale", SampleOptions(), cfg_, FakeOutput(port), primer=[Note(0.0, 60, 1.5)],
                        bars=1, now=clock.now, sleep=clock.sleep)
    assert done.exit_code == 0 and done.result.notes_sent == 1 + 18
    (tmp_path / "x.mid").write_bytes(b"")
    with pytest.raises(OutputError, match="exists"):
        Recording(tmp_path / "x.mid")
    Recording(tmp_path / "x.mid", force=True)


def test_composer_threads(monkeypatch):
    assert torch_threads({}) == 1 and torch_threads({"COMPOSER_THREADS": "3"}) == 3
    for bad in ("two", "0", "-1", ""):
        with pytest.raises(InputError, match=f"COMPOSER_THREADS must be a positive integer, got {bad!r}"):
            torch_threads({"COMPOSER_THREADS": bad})
    monkeypatch.setenv("COMPOSER_THREADS", "two")
    port = ClosablePort(FakeClock())
    with pytest.raises(InputError, match="COMPOSER_THREADS"):  # before any port opens
        play_session("some-model", SampleOptions(), cfg(), FakeOutput(port))
    assert port.sent == [] and not port.closed


def test_status_text():
    snap = LiveStatus("playing", 5.0, 2, 120.0, 9.0, 2.5, 30, 40, 0)
    assert status_text(snap) == "playing  bar 2  120.0 bpm  9.0 notes/s  queue 2.5 s"
    assert status_text(dataclasses.replace(snap, late=3)).endswith("  late 3")
    assert status_text(None) == "listening…"


def test_importing_live_loads_neither_mido_nor_torch():
    import subprocess
    import sys

    code = "import sys, composer.live; print(sorted({'mido', 'rtmidi', 'torch'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- the MIDI API and the port, chosen and checked before the model loads (issue 12) ----------------
def test_jack_is_chosen_where_linux_has_no_alsa_sequencer(monkeypatch):
    from composer.live import ports

    monkeypatch.setattr(ports.sys, "platform", "linux")
    monkeypatch.setattr(ports, "available_apis", lambda: ["alsa", "jack"])
    monkeypatch.setattr(ports.os.path, "exists", lambda p: p != ports.ALSA_SEQ)
    assert ports.choose_api(None) == ("jack", "this system has no ALSA sequencer (/dev/snd/seq)")
    assert ports.choose_api("alsa") == ("alsa", "asked for")
    monkeypatch.setattr(ports.os.path, "exists", lambda p: True)
    assert ports.choose_api(None)[0] is None  # ALSA is there: rtmidi's default
    monkeypatch.setattr(ports.os.path, "exists", lambda p: False)
    monkeypatch.setattr(ports, "available_apis", lambda: ["alsa"])
    assert ports.choose_api(None)[0] is None  # no JACK in this python-rtmidi: nothing better to offer


def test_a_missing_port_fails_before_the_model_loads(monkeypatch):
    """``play``/``jam`` check the port first: a wrong name costs a moment, not the model's loading."""
    from typer.testing import CliRunner

    from composer.cli import app
    from composer.live import session

    def no_loading(model):
        raise AssertionError("the model was loaded before the port was checked")

    monkeypatch.setattr(session, "check_model", no_loading)
    monkeypatch.setattr(session, "check_port", lambda *a: (_ for _ in ()).throw(PortError("no MIDI output port "
                                                                                         "matches 'nowhere'")))
    for cmd in (["play", "--model", "chorales", "--port", "nowhere"],
                ["jam", "--model", "chorales", "--in", "keys", "--port", "nowhere"]):
        result = CliRunner().invoke(app, cmd)
        assert result.exit_code == 2 and "no MIDI output port matches 'nowhere'" in result.stderr, result.output


def test_an_upbeat_sounds_at_once_live():
    from composer.live.sources import from_first_note

    notes = [Note(3.0, 67, 1.0), Note(4.0, 72, 2.0), Note(4.0, 60, 2.0)]
    assert [(n.start, n.pitch) for n in from_first_note(notes)] == [(0.0, 67), (1.0, 72), (1.0, 60)]
    assert [n.start for n in from_first_note([Note(3.5, 60, 0.5), Note(4.0, 62, 1.0)])] == [0.5, 1.0]
    assert list(from_first_note([])) == []


def test_play_primer_with_the_four_voice_model_continues_the_melody():
    """The primer (a melody) is played, then four voices go on from the bar line after it, having heard it as their
    soprano: not a new piece after a pause."""
    primer = [Note(float(i), p, 1.0) for i, p in enumerate([65, 67, 69, 70])] + [Note(4.0, 72, 2.0),
                                                                                  Note(6.0, 72, 2.0)]
    notes = list(note_stream("chorales", SampleOptions(seed=1, top_p=0.95), primer, 2))
    assert notes[:6] == primer
    rest = notes[6:]
    assert rest and min(n.start for n in rest) == 8.0  # from the next bar line, no gap
    assert sum(n.start == 8.0 for n in rest) >= 3  # the voices together on its downbeat
    assert max(n.end for n in rest) == pytest.approx(16.0)  # two bars after the primer's two


def test_clock_in_follows_the_masters_beats_through_a_tempo_change():
    """--clock-in: each beat's tick pulls the player's next beat onto the master's (a bend within one beat), so a
    tempo change costs a beat or two of drift, not a lasting phase error (it was left half a beat off)."""
    clock = FakeClock()
    port = FakePort(clock)
    notes = [Note(float(i), 60, 0.5) for i in range(24)]
    player = Player(notes, port, cfg(tempo=120.0), now=clock.now, sleep=clock.sleep)
    t0 = clock.t
    master = [t0 + 0.6 * k for k in range(9)]  # 100 bpm, then 140 from beat 8
    master += [master[8] + 60 / 140 * k for k in range(1, 20)]
    bpm = [100.0] * 9 + [140.0] * 19
    sent = 0
    real_sleep = clock.sleep

    def sleep(d: float) -> None:
        nonlocal sent
        real_sleep(min(d, 0.002))  # (the master's ticks arrive as time passes)
        while sent < len(master) and master[sent] <= clock.t:
            player.sync(sent, master[sent], bpm[sent])
            sent += 1

    player._sleep = sleep
    player.run()
    ons = [t for t, m in port.sent if m.type == "note_on"]
    late = [abs(ons[k] - master[k]) for k in range(len(ons))]
    assert max(late[3:8]) < 0.01  # locked at 100 bpm
    assert max(late[11:]) < 0.01  # and again two beats after the change to 140


def test_clock_follower_reports_each_beat_tick():
    f = ClockFollower()
    beats: list[tuple[int, float]] = []
    f.on_beat = lambda k, t: beats.append((k, t))
    f.feed(mido.Message("clock"), 0.0)  # before Start: not counted
    f.feed(mido.Message("start"), 1.0)
    for i in range(60):
        f.feed(mido.Message("clock"), 1.0 + i * 0.025)
    assert beats == [(0, 1.0), (1, pytest.approx(1.6)), (2, pytest.approx(2.2))]
