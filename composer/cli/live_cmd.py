"""CLI commands: ``composer ports``, ``composer play``, ``composer jam``.

Stopping: the first Ctrl+C (SIGINT) or SIGTERM stops playback cleanly (every
sounding note gets its note-off, then CC 123 and CC 120); the command then
exits 130 for SIGINT and 143 for SIGTERM.  A second signal aborts at once
(notes are still released by the player's clean-up).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from composer.cli.common import console, err_console, fail, handle_errors, is_tty
from composer.cli.options import (
    LIVE_TOP_P,
    Force,
    Key,
    KeyBias,
    MaxNotes,
    Model,
    Program,
    Quiet,
    Record,
    Seed,
    Temperature,
    TopK,
    TopP,
    sample_options,
)
from composer.config import DEFAULT_KEY_BIAS, DEFAULT_TEMPERATURE

if TYPE_CHECKING:
    from composer.events import Note
    from composer.live import LiveConfig, LiveStatus

EXIT_SIGINT = 130
EXIT_SIGTERM = 143

Api = Annotated[
    str | None,
    typer.Option("--api", help="MIDI API: alsa, jack, coremidi, winmm, or a mido backend name."),
]
Port = Annotated[
    str | None,
    typer.Option("--port", help="Existing output port (case-insensitive substring of its name)."),
]
Virtual = Annotated[
    str | None,
    typer.Option(
        "--virtual", help="Open a virtual output port with this name (default: composer)."
    ),
]
Channel = Annotated[int, typer.Option("--channel", help="MIDI channel, 1-16.")]
Tempo = Annotated[float, typer.Option("--tempo", help="Beats per minute, 20-400.")]
ClockOut = Annotated[
    bool, typer.Option("--clock-out", help="Send 24-ppqn MIDI clock with Start/Stop.")
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("ports")(ports)
    app.command("play")(play)
    app.command("jam")(jam)


def ports(api: Api = None) -> None:
    """List MIDI input and output ports of every available MIDI API."""
    from rich.table import Table

    from composer.ports import list_ports

    with handle_errors():
        found, problems = list_ports(api)
        table = Table(title="MIDI ports")
        for col in ("API", "direction", "name"):
            table.add_column(col)
        for p in found:
            table.add_row(p.api, p.direction, p.name)
        console.print(table)
        if not found:
            console.print("no MIDI ports found")
        for name, why in problems.items():
            err_console.print(f"[yellow]{name}:[/] unavailable ({why})", highlight=False)


def _check_model(model: str | None) -> None:
    """Fail on a bad model before any port opens (and load it, so the first note comes sooner)."""
    from composer.errors import InputError
    from composer.live_sources import builtin_name

    if builtin_name(model) is None:
        import torch

        from composer.generation import load_model

        # One intra-op thread: a batch-1 LSTM step is no faster on two, and the other core stays
        # free for the sender and the MIDI driver (live timing p99 2.6 ms -> 1.0 ms, RESULTS.md).
        threads = os.environ.get("COMPOSER_THREADS", "1")
        try:
            count = int(threads)
        except ValueError:
            count = 0
        if count < 1:
            raise InputError(f"COMPOSER_THREADS must be a positive integer, got {threads!r}")
        torch.set_num_threads(count)
        load_model(model)


def _live_config(**kw: Any) -> LiveConfig:
    from composer.errors import InputError
    from composer.live import LiveConfig

    try:
        return LiveConfig(**kw)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _open_output(port: str | None, virtual: str | None, api: str | None) -> Any:
    from composer.errors import InputError
    from composer.ports import open_output

    if port is not None and virtual is not None:
        raise InputError("give --port or --virtual, not both")
    if port is None and virtual is None:
        virtual = "composer"
    return open_output(port, virtual, api)


def _check_record(record: Path | None, force: bool) -> None:
    from composer.errors import OutputError

    if record is not None and record.exists() and not force:
        raise OutputError(f"{record} exists (use --force to overwrite)")


def _write_record(record: Path | None, notes: list[Note], cfg: LiveConfig, force: bool) -> None:
    if record is None:
        return
    from composer.midifile import score_from_notes, write_score

    write_score(
        score_from_notes(notes, tempo=cfg.tempo, program=cfg.program or 0), record, force=force
    )
    err_console.print(f"recorded {len(notes)} notes to {record}", highlight=False)


def _load_primer(text: str) -> list[Note]:
    from composer.errors import InputError

    try:
        from composer.generation import parse_primer
    except ImportError:
        if Path(text).is_file():
            from composer.midifile import load_score, pitched_notes

            return pitched_notes(load_score(text))
        raise InputError(
            f"primer {text!r}: typed melodies need the generation module; give a MIDI file"
        ) from None
    parsed: Any = parse_primer(text)  # a Primer (notes + time signature) or a list of notes
    return sorted(getattr(parsed, "notes", parsed))


class _Session:
    """Signals, the port watcher and the status line around a running player or jam."""

    def __init__(self, target: Any, port: Any, api: str | None, watch: bool, status: bool) -> None:
        self.target = target  # has stop(error=None) and snapshot()
        self.port = port
        self.api = api
        self.watch = watch
        self.status = status
        self.signal: int | None = None
        self._done = threading.Event()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt  # a second signal: abort now (the player still releases notes)
        self.signal = signum
        self.target.stop()

    def _watch(self) -> None:
        from composer.errors import PortError

        rt = getattr(self.port, "_rt", None)  # mido's rtmidi object, to list without a new client
        name = getattr(self.port, "name", "")
        while not self._done.wait(0.5):
            try:
                alive = rt is None or name in rt.get_ports()
            except Exception:
                alive = False
            if not alive:
                self.target.stop(PortError(f"MIDI port {name!r} vanished"))
                return

    def run(self, func: Any) -> Any:
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        if self.watch:
            threading.Thread(target=self._watch, daemon=True, name="composer-port-watch").start()
        live = None
        if self.status:
            from rich.live import Live

            live = Live(
                get_renderable=self._render,
                console=err_console,
                refresh_per_second=4,
                transient=True,
            )
            live.start()
        try:
            return func()
        finally:
            self._done.set()
            if live is not None:
                live.stop()
            for s, h in old.items():
                signal.signal(s, h)

    def _render(self) -> str:
        snap: LiveStatus | None = self.target.snapshot()
        if snap is None:
            return "listening…"
        return (
            f"{snap.state}  bar {snap.bar}  {snap.tempo:.1f} bpm  "
            f"{snap.notes_per_second:.1f} notes/s  queue {snap.queue_seconds:.1f} s"
            + (f"  late {snap.late}" if snap.late else "")
        )

    def exit_code(self) -> int:
        if self.signal == signal.SIGINT:
            return EXIT_SIGINT
        if self.signal == signal.SIGTERM:
            return EXIT_SIGTERM
        return 0


def _close(port: Any) -> None:
    time.sleep(0.05)  # let the MIDI system drain its buffer (JACK: a few periods) before closing
    # Closing a JACK client waits for the server, which can hang when it is overloaded: the
    # notes are already released, so give it 2 s and then let the process exit anyway.
    closer = threading.Thread(target=port.close, daemon=True, name="composer-port-close")
    closer.start()
    closer.join(2.0)


def play(
    port: Port = None,
    virtual: Virtual = None,
    api: Api = None,
    channel: Channel = 1,
    program: Program = None,
    tempo: Tempo = 120.0,
    model: Model = None,
    temperature: Temperature = DEFAULT_TEMPERATURE,
    top_k: TopK = 0,
    top_p: TopP = LIVE_TOP_P,
    seed: Seed = None,
    key: Key = None,
    key_bias: KeyBias = DEFAULT_KEY_BIAS,
    bars: Annotated[
        int | None, typer.Option("--bars", help="Play this many bars, then stop.")
    ] = None,
    seconds: Annotated[
        float | None, typer.Option("--seconds", help="Play this many seconds, then stop.")
    ] = None,
    primer: Annotated[
        str | None, typer.Option("--primer", help="MIDI file or typed melody to continue.")
    ] = None,
    clock_out: ClockOut = False,
    clock_in: Annotated[
        str | None,
        typer.Option(
            "--clock-in", help="Follow the tempo and Start/Stop of this clock input port."
        ),
    ] = None,
    lookahead: Annotated[
        float, typer.Option("--lookahead", help="Seconds of music generated ahead, > 0.")
    ] = 3.0,
    record: Record = None,
    force: Force = False,
    quiet: Quiet = False,
    max_notes: MaxNotes = None,
) -> None:
    """Play endless (or --bars/--seconds long) improvisation on a MIDI port."""
    with handle_errors(max_notes):
        from composer.errors import InputError

        if bars is not None and bars < 1:
            raise InputError(f"--bars must be >= 1, got {bars}")
        options = sample_options(temperature, top_k, top_p, seed, key, key_bias)
        primer_notes = _load_primer(primer) if primer else []
        offset = 0.0
        if primer_notes:
            import math

            offset = math.ceil(max(n.end for n in primer_notes) / 4 - 1e-9) * 4.0
        cfg = _live_config(
            tempo=tempo,
            channel=channel,
            program=program,
            clock_out=clock_out,
            lookahead=lookahead,
            max_seconds=seconds,
            max_beats=offset + bars * 4 if bars is not None else None,
        )
        _check_record(record, force)
        from composer.live import Player
        from composer.live_sources import note_stream

        _check_model(model)
        notes = note_stream(model, options, primer_notes, bars)
        out = _open_output(port, virtual, api)
        try:
            player = Player(notes, out, cfg)
            session = _Session(
                player, out, api, watch=port is not None, status=is_tty() and not quiet
            )
            follower_port = _follow_clock(clock_in, api, player, session) if clock_in else None
            try:
                result = session.run(player.run)
            finally:
                if follower_port is not None:
                    follower_port.close()
        finally:
            _close(out)
        _write_record(record, result.played, cfg, force)
        if not quiet:
            err_console.print(
                f"played {result.notes_sent} notes, {result.beats / 4:.1f} bars ({result.reason})",
                highlight=False,
            )
        code = session.exit_code()
        if code:
            raise fail("interrupted" if code == EXIT_SIGINT else "terminated", code)


def _follow_clock(name: str, api: str | None, player: Any, session: _Session) -> Any:
    """Open the clock input, wait for its Start, and let it drive the player's tempo."""
    from composer.live_clock import ClockFollower
    from composer.ports import open_input

    follower = ClockFollower()
    inp = open_input(name, None, api, callback=lambda m: follower.feed(m, time.monotonic()))

    def set_tempo(bpm: float) -> None:
        player.set_tempo(min(400.0, max(20.0, bpm)))

    follower.on_tempo = set_tempo
    follower.on_stop = player.stop
    old = signal.signal(signal.SIGINT, session._on_signal)
    try:
        err_console.print(f"waiting for MIDI Start on {inp.name}…", highlight=False)
        while not follower.started.wait(0.1):
            if session.signal is not None:
                break
    finally:
        signal.signal(signal.SIGINT, old)
    return inp


def jam(
    in_port: Annotated[
        str | None, typer.Option("--in", help="Input port to listen to (substring of its name).")
    ] = None,
    virtual_in: Annotated[
        str | None, typer.Option("--virtual-in", help="Open a virtual input port with this name.")
    ] = None,
    port: Port = None,
    virtual: Virtual = None,
    api: Api = None,
    channel: Channel = 1,
    program: Program = None,
    tempo: Tempo = 120.0,
    model: Model = None,
    temperature: Temperature = DEFAULT_TEMPERATURE,
    top_k: TopK = 0,
    top_p: TopP = LIVE_TOP_P,
    seed: Seed = None,
    key: Key = None,
    key_bias: KeyBias = DEFAULT_KEY_BIAS,
    answer_bars: Annotated[int, typer.Option("--answer-bars", help="Bars of each answer.")] = 2,
    silence: Annotated[
        float | None,
        typer.Option("--silence", help="Beats of silence that end a phrase (default: one bar)."),
    ] = None,
    rounds: Annotated[
        int, typer.Option("--rounds", help="Stop after this many answers (0 = never).")
    ] = 0,
    record: Record = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Call and response: answer each phrase played on --in with a continuation."""
    with handle_errors():
        from composer.errors import InputError
        from composer.live_jam import Jam, JamConfig, PhraseListener
        from composer.live_sources import continuation
        from composer.ports import open_input

        if (in_port is None) == (virtual_in is None):
            raise InputError("give --in PORT or --virtual-in NAME (one of them)")
        cfg = _live_config(tempo=tempo, channel=channel, program=program)
        try:
            jcfg = JamConfig(answer_bars=answer_bars, silence_beats=silence, rounds=rounds)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        _check_record(record, force)
        answer = continuation(model, sample_options(temperature, top_k, top_p, seed, key, key_bias))
        _check_model(model)
        beats = jcfg.silence_beats if jcfg.silence_beats is not None else cfg.beats_per_bar
        listener = PhraseListener(tempo, beats * 60.0 / tempo)
        inp = open_input(
            in_port, virtual_in, api, callback=lambda m: listener.feed(m, time.monotonic())
        )
        try:
            out = _open_output(port, virtual, api)
            try:
                session_jam = Jam(listener, out, answer, cfg, jcfg)
                session = _Session(
                    session_jam, out, api, watch=port is not None, status=is_tty() and not quiet
                )
                if not quiet:
                    err_console.print(f"listening on {inp.name}…", highlight=False)
                result = session.run(session_jam.run)
            finally:
                _close(out)
        finally:
            inp.close()
        _write_record(record, result.played, cfg, force)
        if not quiet:
            err_console.print(f"answered {result.rounds} phrase(s)", highlight=False)
        code = session.exit_code()
        if code:
            raise fail("interrupted" if code == EXIT_SIGINT else "terminated", code)
