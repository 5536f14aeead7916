"""A live command from start to end: checks, ports, signals, the port watcher, the clock-in wait.

:func:`play_session` and :func:`jam_session` are what ``composer play`` and ``composer jam``
do once their options are parsed: load the model, open the ports, run a
:class:`~composer.live.Player` or :class:`~composer.live.Jam` under a :class:`Session`, close
the ports, write the recording, and return the result with the command's exit code.  What the
user sees goes through a :class:`SessionView` (the CLI draws it with rich; the default shows
nothing).

Stopping: the first Ctrl+C (SIGINT) or SIGTERM stops playback cleanly (every sounding note gets
its note-off, then CC 123 and CC 120); the exit code is then 130 for SIGINT and 143 for SIGTERM.
A second signal aborts at once with ``KeyboardInterrupt`` (notes are still released by the
player's clean-up).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from threadpoolctl import threadpool_limits

from composer.config import SampleOptions
from composer.errors import InputError, PortError
from composer.events import Note, next_bar_line
from composer.files import refuse_overwrite
from composer.live.clock import ClockFollower
from composer.live.jam import Jam, JamConfig, JamResult, PhraseListener
from composer.live.player import LiveConfig, LiveStatus, Player, PlayResult
from composer.live.ports import Watch, Watches, check_port, choose_api, gone, open_input, open_output, watch_of
from composer.live.sources import builtin_name, continuation, from_first_note, note_stream
from composer.live.synth import SynthPort, SynthSettings, SynthWatch
from composer.midifile import load_score, pitched_notes, score_from_notes, write_score

EXIT_SIGINT = 130
EXIT_SIGTERM = 143
THREADS_ENV = "COMPOSER_THREADS"  # BLAS threads of the numpy LSTM while playing a model (default 1)
BEATS_PER_BAR = 4.0  # what --bars counts and the summary reports
WATCH_INTERVAL = 0.5  # seconds between checks that an output given by name is still there
CLOSE_WAIT = 2.0  # seconds given to closing a port before the process goes on without it
INPUT_SETTLE = 0.25  # seconds after opening an input before its connection is sure to carry messages

R = TypeVar("R")


# -- building the pieces (each bad value is an InputError, exit 2) -----------------------------


def live_config(**kw: Any) -> LiveConfig:
    """A :class:`LiveConfig`; a bad value is an :class:`InputError`."""
    try:
        return LiveConfig(**kw)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def play_config(primer: Sequence[Note], bars: int | None, **kw: Any) -> LiveConfig:
    """The :class:`LiveConfig` of ``composer play``: ``bars`` counts from the primer's last bar line."""
    offset = next_bar_line(max(n.end for n in primer), BEATS_PER_BAR) if primer else 0.0
    return live_config(max_beats=offset + bars * BEATS_PER_BAR if bars is not None else None, **kw)


def jam_config(**kw: Any) -> JamConfig:
    """A :class:`JamConfig`; a bad value is an :class:`InputError`."""
    try:
        return JamConfig(**kw)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def load_primer(text: str) -> list[Note]:
    """The notes of ``--primer``: a MIDI file or a typed melody (typed ones need the model code)."""
    try:
        from composer.generation import parse_primer
    except ImportError:
        if Path(text).is_file():
            return pitched_notes(load_score(text))
        raise InputError(
            f"primer {text!r}: typed melodies need the generation module; give a MIDI file"
        ) from None
    parsed: Any = parse_primer(text)  # a Primer (notes + time signature) or a list of notes
    return sorted(getattr(parsed, "notes", parsed))


def torch_threads(environ: Mapping[str, str] = os.environ) -> int:
    """BLAS threads of the live sampler (numpy's LSTM): ``COMPOSER_THREADS``, default 1.

    One thread: a batch-1 LSTM step needs no more in real time, and the other core stays free
    for the sender and the MIDI driver (live timing p99 2.6 ms -> 1.0 ms with torch, RESULTS.md).

    Raises
    ------
    InputError
        If the variable is not a positive integer.
    """
    threads = environ.get(THREADS_ENV, "1")
    try:
        count = int(threads)
    except ValueError:
        count = 0
    if count < 1:
        raise InputError(f"{THREADS_ENV} must be a positive integer, got {threads!r}")
    return count


def check_model(model: str | None) -> None:
    """Fail on a bad model before any port opens (and load it, so the first note comes sooner)."""
    if builtin_name(model) is None:
        count = torch_threads()
        from composer.generation import load_model

        threadpool_limits(count, user_api="blas")
        load_model(model)


@dataclass(frozen=True)
class Recording:
    """Where ``--record`` writes what was played; an existing file is refused at once (unless ``force``)."""

    path: Path
    force: bool = False

    def __post_init__(self) -> None:
        refuse_overwrite(self.path, self.force)

    def write(self, notes: list[Note], config: LiveConfig) -> None:
        """Write ``notes`` (beats) at the config's tempo and program, atomically."""
        score = score_from_notes(notes, tempo=config.tempo, program=config.program or 0)
        write_score(score, self.path, force=self.force)


# -- ports --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """Where a live command plays: a ``port``, a ``virtual`` one (default ``composer``), or FluidSynth (``synth``)."""

    port: str | None = None
    virtual: str | None = None
    api: str | None = None
    synth: SynthSettings | None = None

    @property
    def _virtual(self) -> str | None:
        if self.port is not None and self.virtual is not None:
            raise InputError("give --port or --virtual, not both")
        if self.synth is not None and (self.port is not None or self.virtual is not None):
            raise InputError("--synth plays without a MIDI port: give --synth or --port/--virtual, not both")
        return "composer" if self.port is None and self.virtual is None else self.virtual

    def check(self) -> None:
        """Fail now, before a model loads, if the port (or FluidSynth, started and quit) cannot be had."""
        virtual = self._virtual
        if self.synth is not None:
            SynthPort(self.synth).close()  # about 0.4 s: no sound here is said at once
        else:
            check_port("output", self.port, virtual, self.api)

    def using(self, api: str | None) -> Output:
        """The same output, opened through ``api``."""
        return replace(self, api=api)

    def open(self) -> Any:
        """Open the port (a mido output, or a :class:`~composer.live.synth.SynthPort`)."""
        if self.synth is not None:
            return SynthPort(self.synth)
        return open_output(self.port, self._virtual, self.api)

    def watch(self, port: Any) -> Watch | None:
        """A watch on an existing port or the synth (which can vanish), on a virtual JACK port's server; else None."""
        if isinstance(port, SynthPort):
            return SynthWatch(port)
        return watch_of(port, "output" if self.port is not None else None)

    @contextlib.contextmanager
    def opened(self) -> Iterator[Any]:
        """The open port, closed on leaving (see :func:`close_port`)."""
        out = self.open()
        try:
            yield out
        finally:
            close_port(out)


@dataclass(frozen=True)
class Input:
    """The input ``composer jam`` listens to: an existing ``port`` or a ``virtual`` one."""

    port: str | None = None
    virtual: str | None = None
    api: str | None = None

    def check(self) -> None:
        """Fail now, before a model loads, if the port cannot be had (see :func:`check_port`)."""
        check_port("input", self.port, self.virtual, self.api)

    def using(self, api: str | None) -> Input:
        """The same input, opened through ``api``."""
        return replace(self, api=api)

    def watch(self, port: Any) -> Watch | None:
        """A watch on the open input (an existing port, or a virtual JACK port's server), else None."""
        return watch_of(port, "input" if self.port is not None else None)

    @contextlib.contextmanager
    def opened(self, callback: Callable[[Any], None]) -> Iterator[Any]:
        """The open port calling ``callback(msg)`` for each message, closed on leaving."""
        inp = open_input(self.port, self.virtual, self.api, callback=callback)
        try:
            # A new connection takes effect a few server cycles after the call returns (JACK:
            # messages sent at once were lost, 0.1 s later all arrived): wait it out, so input
            # played once we say "listening" is heard.
            time.sleep(INPUT_SETTLE)
            yield inp
        finally:
            inp.close()


def close_port(port: Any) -> None:
    """Close an output after its last messages, without hanging on a stuck MIDI server."""
    time.sleep(0.05)  # let the MIDI system drain its buffer (JACK: a few periods) before closing
    # Closing a JACK client waits for the server, which can hang when it is overloaded: the
    # notes are already released, so give it 2 s and then let the process exit anyway.
    closer = threading.Thread(target=port.close, daemon=True, name="composer-port-close")
    closer.start()
    closer.join(CLOSE_WAIT)


# -- what the user sees -------------------------------------------------------------------------


class SessionView:
    """What a session tells its user.  This one tells nothing; a CLI overrides the methods."""

    def waiting_for_start(self, port_name: str) -> None:
        """``--clock-in``: waiting for MIDI Start on ``port_name``."""

    def listening(self, port_name: str) -> None:
        """``jam``: listening on ``port_name``."""

    def midi_api(self, api: str, why: str) -> None:
        """The MIDI API the ports are opened with (``api``), chosen because ``why``."""

    def recorded(self, count: int, path: Path) -> None:
        """``count`` notes were written to ``path``."""

    def status(self, snapshot: Callable[[], LiveStatus | None]) -> contextlib.AbstractContextManager[Any]:
        """A context inside which a status line may be drawn from ``snapshot()`` (see :func:`status_text`)."""
        return contextlib.nullcontext()


def status_text(snap: LiveStatus | None) -> str:
    """The status line of a running player (None: a jam listening)."""
    if snap is None:
        return "listening…"
    return (
        f"{snap.state}  bar {snap.bar}  {snap.tempo:.1f} bpm  "
        f"{snap.notes_per_second:.1f} notes/s  queue {snap.queue_seconds:.1f} s"
        + (f"  late {snap.late}" if snap.late else "")
    )


# -- the session ----------------------------------------------------------------------------------


class Target(Protocol):
    """What a session runs: a :class:`Player` or a :class:`Jam`."""

    def stop(self, error: BaseException | None = None) -> None:
        """Stop soon, releasing every note; ``error`` is raised by ``run``."""
        ...

    def snapshot(self) -> LiveStatus | None:
        """The status line's data (None while a jam listens)."""
        ...


class Session:
    """Signals, the port watcher and the status line around a running player or jam.

    Parameters
    ----------
    target : Player or Jam
        Stopped (cleanly) by the first SIGINT/SIGTERM, or with a :class:`PortError` when the
        watched port vanishes.
    view : SessionView
        Draws the status line while :meth:`run` runs.
    interval : float
        Seconds between two checks of the watched port.
    """

    def __init__(self, target: Target, view: SessionView | None = None, interval: float = WATCH_INTERVAL) -> None:
        self.target = target
        self.view = view or SessionView()
        self.interval = interval
        self.signal: int | None = None  # the first signal received

    def on_signal(self, signum: int, frame: Any) -> None:
        """Signal handler: stop the target; a second signal aborts at once."""
        if self.signal is not None:
            raise KeyboardInterrupt  # a second signal: abort now (the player still releases notes)
        self.signal = signum
        self.target.stop()

    def run(self, func: Callable[[], R], watch: Watch | None = None) -> R:
        """Call ``func`` (the target's ``run``) with signals caught, ``watch`` checked and a status line."""
        old = {s: signal.signal(s, self.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        done = threading.Event()
        watcher = None
        if watch is not None:
            watcher = threading.Thread(
                target=self._watch, args=(watch, done), daemon=True, name="composer-port-watch"
            )
            watcher.start()
        try:
            with self.view.status(self.target.snapshot):
                return func()
        finally:
            done.set()
            for s, h in old.items():
                signal.signal(s, h)
            if watcher is not None:
                watcher.join(CLOSE_WAIT)

    def _watch(self, watch: Watch, done: threading.Event) -> None:
        try:
            while not done.wait(self.interval):
                if not watch.exists():
                    self.target.stop(PortError(gone(watch)))
                    return
        finally:
            watch.close()

    def follow_clock(self, name: str, api: str | None, player: Player) -> Any:
        """Open the clock input ``name``, wait for its Start (or a SIGINT), let it drive ``player``.

        Returns the open input port; close it after playing.
        """
        follower = ClockFollower()
        inp = open_input(name, None, api, callback=lambda m: follower.feed(m, time.monotonic()))

        def set_tempo(bpm: float) -> None:  # (before the first beat: after it, each beat's sync holds the tempo)
            if not player.started:
                player.set_tempo(min(400.0, max(20.0, bpm)))

        follower.on_tempo = set_tempo
        follower.on_beat = lambda beat, t: player.sync(beat, t, follower.tempo or player.config.tempo)
        follower.on_stop = player.stop
        old = signal.signal(signal.SIGINT, self.on_signal)
        try:
            self.view.waiting_for_start(inp.name)
            while not follower.started.wait(0.1):
                if self.signal is not None:
                    break
        finally:
            signal.signal(signal.SIGINT, old)
        return inp

    @property
    def exit_code(self) -> int:
        """130 after SIGINT, 143 after SIGTERM, else 0."""
        if self.signal == signal.SIGINT:
            return EXIT_SIGINT
        if self.signal == signal.SIGTERM:
            return EXIT_SIGTERM
        return 0


@dataclass(frozen=True)
class SessionResult(Generic[R]):
    """What a live command did, and the exit code it ends with (0, 130 or 143)."""

    result: R
    exit_code: int


def _finish(
    session: Session, result: R, played: list[Note], config: LiveConfig, record: Recording | None
) -> SessionResult[R]:
    if record is not None:
        record.write(played, config)
        session.view.recorded(len(played), record.path)
    return SessionResult(result, session.exit_code)


def _before_ports(model: str | None) -> None:
    """What is checked before any port: a built-in source's name, COMPOSER_THREADS for a model."""
    if builtin_name(model) is None:
        torch_threads()


def _ports_first(view: SessionView | None, output: Output, listen: Input | None = None) -> tuple[Output, Input]:
    """Choose the MIDI API and check the ports before the model loads.

    JACK where Linux has no ALSA sequencer; a missing port then fails in a moment, not after the
    model's seconds of loading.
    """
    api, why = choose_api(output.api)
    chosen = api is not None and api != output.api
    output, listen = output.using(api), (listen or Input()).using(api)
    listens = listen.port is not None or listen.virtual is not None
    if output.synth is not None:
        output.check()  # FluidSynth's own errors: no MIDI API in them
    try:
        if output.synth is None:
            output.check()
        if listens:
            listen.check()
    except PortError as exc:
        if chosen:  # say why this API, in the one error line
            raise PortError(f"{exc} (MIDI API {api}: {why}; --api chooses another)") from None
        raise
    if chosen and view is not None and (output.synth is None or listens):
        view.midi_api(str(api), why)
    return output, listen


def play_session(
    model: str | None,
    options: SampleOptions,
    config: LiveConfig,
    output: Output,
    *,
    primer: Sequence[Note] = (),
    bars: int | None = None,
    clock_in: str | None = None,
    record: Recording | None = None,
    view: SessionView | None = None,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SessionResult[PlayResult]:
    """``composer play``: the primer, then the model's (or built-in source's) continuation.

    ``config.max_beats`` (see :func:`play_config`) ends it; ``bars`` tells the source how many
    bars to make.  With ``clock_in``, playback waits for MIDI Start on that input and follows
    its tempo.  ``now`` and ``sleep`` drive the player (tests pass a fake clock).
    """
    _before_ports(model)
    output = _ports_first(view, output, Input(port=clock_in) if clock_in else None)[0]
    check_model(model)
    notes = note_stream(model, options, list(primer), bars)
    if not primer and not config.clock_out and not clock_in:  # no DAW's bar lines to keep: an upbeat at once
        notes = from_first_note(notes)
    with output.opened() as out:
        player = Player(notes, out, config, now=now, sleep=sleep)
        session = Session(player, view)
        clock = session.follow_clock(clock_in, output.api, player) if clock_in else None
        try:
            result = session.run(player.run, output.watch(out))
        finally:
            if clock is not None:
                clock.close()
    return _finish(session, result, result.played, config, record)


def jam_session(
    model: str | None,
    options: SampleOptions,
    config: LiveConfig,
    jam: JamConfig,
    listen: Input,
    output: Output,
    *,
    record: Recording | None = None,
    view: SessionView | None = None,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SessionResult[JamResult]:
    """``composer jam``: answer each phrase played on ``listen`` with a continuation, on ``output``."""
    _before_ports(model)
    output, listen = _ports_first(view, output, listen)
    answer = continuation(model, options)
    check_model(model)
    beats = jam.silence_beats if jam.silence_beats is not None else config.beats_per_bar
    listener = PhraseListener(config.tempo, beats * 60.0 / config.tempo)
    with listen.opened(lambda m: listener.feed(m, now())) as inp, output.opened() as out:
        runner = Jam(listener, out, answer, config, jam, now=now, sleep=sleep)
        session = Session(runner, view)
        session.view.listening(inp.name)
        result = session.run(runner.run, Watches(output.watch(out), listen.watch(inp)))
    return _finish(session, result, result.played, config, record)
