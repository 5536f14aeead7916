"""CLI commands: ``composer ports``, ``composer play``, ``composer jam``.

Options become configs here; what the commands then do (ports, signals, the port watcher, the
clock-in wait, recording, exit codes 130/143 after SIGINT/SIGTERM) is
:func:`composer.live.play_session` and :func:`composer.live.jam_session`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from composer.cli import options as opt
from composer.cli.common import console, err_console, handle_errors, is_tty
from composer.config import SampleOptions
from composer.errors import InputError, PortError
from composer.live import (
    EXIT_SIGINT,
    Input,
    LiveStatus,
    Output,
    Recording,
    SessionResult,
    SessionView,
    SynthSettings,
    jam_config,
    jam_session,
    list_ports,
    live_config,
    load_primer,
    play_config,
    play_session,
    status_text,
)

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
Synth = Annotated[
    bool,
    typer.Option("--synth", help="Play through FluidSynth and a General MIDI soundfont: sound with no MIDI port."),
]
AudioDriver = Annotated[
    str | None,
    typer.Option("--audio-driver",
                 help="With --synth: FluidSynth's audio driver (pulseaudio, alsa, jack, coreaudio, ...)."),
]
SynthOption = Annotated[
    list[str] | None,
    typer.Option("--synth-option", help="With --synth: a FluidSynth setting NAME=VALUE (repeatable), e.g. "
                                         "synth.reverb.active=0."),
]
ClockOut = Annotated[
    bool, typer.Option("--clock-out", help="Send 24-ppqn MIDI clock with Start/Stop.")
]


@dataclass(frozen=True)
class _Out:
    """Where and how play and jam sound: the output port and the channel, program and tempo."""

    port: Output
    channel: int
    program: int | None
    tempo: float


def _output(
    port: Port = None,
    virtual: Virtual = None,
    api: Api = None,
    synth: Synth = False,
    soundfont: opt.Soundfont = None,
    audio_driver: AudioDriver = None,
    synth_option: SynthOption = None,
    channel: Channel = 1,
    program: opt.Program = None,
    tempo: Tempo = 120.0,
) -> _Out:
    """The output options of play and jam (an option group)."""
    if not synth and (soundfont is not None or audio_driver is not None or synth_option):
        raise InputError("--soundfont, --audio-driver and --synth-option go with --synth")
    settings = SynthSettings(soundfont, audio_driver, tuple(synth_option or ())) if synth else None
    return _Out(Output(port, virtual, api, settings), channel, program, tempo)


def _recording(record: opt.Record = None, force: opt.Force = False) -> Recording | None:
    """The --record file of play and jam (an option group); an existing one needs --force."""
    return Recording(record, force) if record is not None else None


#: play and jam sample as generate does (one set of defaults; top-p 0.95 since issue 12).
_LIVE_SAMPLING = opt.sampling


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("ports")(ports)
    app.command("play")(play)
    app.command("jam")(jam)


def ports(api: Api = None, as_json: opt.Json = False) -> None:
    """List MIDI input and output ports of every available MIDI API.

    Example: composer ports --api jack
    """
    from rich.table import Table

    with handle_errors():
        found, problems = list_ports(api)
        if api is not None and problems:  # the one API asked for cannot be read
            name, why = next(iter(problems.items()))
            raise PortError(f"{name}: unavailable ({why})")
        if as_json:
            typer.echo(json.dumps({"ports": [dataclasses.asdict(p) for p in found], "unavailable": problems},
                                  indent=1))
            return
        table = Table(title="MIDI ports")
        for col in ("API", "direction", "name"):
            table.add_column(col)
        for p in found:
            table.add_row(p.api, p.direction, p.name)
        console.print(table)
        if not found:
            console.print("no MIDI ports found")
        for name, why in problems.items():
            err_console.print(f"[yellow]{name}:[/] unavailable ({why})", highlight=False, soft_wrap=True)


class _View(SessionView):
    """The session's messages on stderr, and a rich status line on a terminal (unless quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def waiting_for_start(self, port_name: str) -> None:
        err_console.print(f"waiting for MIDI Start on {port_name}…", highlight=False)

    def listening(self, port_name: str) -> None:
        if not self.quiet:
            err_console.print(f"listening on {port_name}…", highlight=False)

    def midi_api(self, api: str, why: str) -> None:
        if not self.quiet:
            err_console.print(f"MIDI API: {api}, as {why} (--api chooses another)", highlight=False, soft_wrap=True)

    def recorded(self, count: int, path: Path) -> None:
        err_console.print(f"recorded {count} notes to {path}", highlight=False)

    def status(self, snapshot: Callable[[], LiveStatus | None]) -> contextlib.AbstractContextManager[Any]:
        if self.quiet or not is_tty():
            return contextlib.nullcontext()
        from rich.live import Live

        return Live(
            get_renderable=lambda: status_text(snapshot()),
            console=err_console,
            refresh_per_second=4,
            transient=True,
        )


def _no_rewinds(options: SampleOptions) -> None:
    """--rewinds samples a written piece's phrase ends again; a live stream plays each note as it comes."""
    if options.phrase_rewinds:
        raise InputError("--rewinds is for generate (a live stream has played a phrase before it could rewind it)")


def _end(done: SessionResult[Any], summary: str | None) -> None:
    """Print the summary (None: quiet) and exit 130/143 after a signal.

    A signal is the way to end an endless session, so it is not reported as an error: every note was released.
    """
    if summary is not None:
        err_console.print(summary, highlight=False)
    if done.exit_code:
        how = "interrupted (Ctrl+C)" if done.exit_code == EXIT_SIGINT else "terminated (SIGTERM)"
        err_console.print(f"{how}: every note released", highlight=False)
        raise typer.Exit(done.exit_code)


@opt.with_groups(out=_output, options=_LIVE_SAMPLING, rec=_recording)
def play(
    out: _Out = _output(),  # noqa: B008  (an option group: see cli.options.with_groups)
    model: opt.Model = None,
    options: SampleOptions = SampleOptions(),
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
    rec: Recording | None = None,
    quiet: opt.Quiet = False,
    max_notes: opt.MaxNotes = None,
) -> None:
    """Play endless (or --bars/--seconds long) improvisation on a MIDI port, or through FluidSynth.

    Example: composer play --virtual composer (then connect your DAW or synth to "composer")

    Example: composer play --port "FLUID" --channel 2 --tempo 90 --bars 32

    Example: composer play --synth --primer "tinyNotation: 4/4 c4 d e f g2" (no port: FluidSynth sounds)
    """
    with handle_errors(max_notes):
        _no_rewinds(options)
        if bars is not None and bars < 1:
            raise InputError(f"--bars must be >= 1, got {bars}")
        if clock_out and out.port.synth is not None:
            raise InputError("--clock-out sends MIDI clock to a port; --synth has none")
        primer_notes = load_primer(primer) if primer else []
        cfg = play_config(
            primer_notes,
            bars,
            tempo=out.tempo,
            channel=out.channel,
            program=out.program,
            clock_out=clock_out,
            lookahead=lookahead,
            max_seconds=seconds,
        )
        done = play_session(
            model, options, cfg, out.port,
            primer=primer_notes, bars=bars, clock_in=clock_in, record=rec, view=_View(quiet),
        )
        r = done.result
        _end(done, None if quiet else f"played {r.notes_sent} notes, {r.beats / 4:.1f} bars ({r.reason})")


@opt.with_groups(out=_output, options=_LIVE_SAMPLING, rec=_recording)
def jam(
    in_port: Annotated[
        str | None, typer.Option("--in", help="Input port to listen to (substring of its name).")
    ] = None,
    virtual_in: Annotated[
        str | None, typer.Option("--virtual-in", help="Open a virtual input port with this name.")
    ] = None,
    out: _Out = _output(),  # noqa: B008  (an option group: see cli.options.with_groups)
    model: opt.Model = None,
    options: SampleOptions = SampleOptions(),
    answer_bars: Annotated[int, typer.Option("--answer-bars", help="Bars of each answer.")] = 2,
    silence: Annotated[
        float | None,
        typer.Option("--silence", help="Beats of silence that end a phrase (default: one bar)."),
    ] = None,
    rounds: Annotated[
        int, typer.Option("--rounds", help="Stop after this many answers (0 = never).")
    ] = 0,
    rec: Recording | None = None,
    quiet: opt.Quiet = False,
) -> None:
    """Call and response: answer each phrase played on --in with a continuation.

    Example: composer jam --in "keyboard" --port "synth" --answer-bars 2

    Example: composer jam --virtual-in composer-in --synth (play into composer-in, hear the answers)
    """
    with handle_errors():
        _no_rewinds(options)
        if (in_port is None) == (virtual_in is None):
            raise InputError("give --in PORT or --virtual-in NAME (one of them)")
        cfg = live_config(tempo=out.tempo, channel=out.channel, program=out.program)
        jcfg = jam_config(answer_bars=answer_bars, silence_beats=silence, rounds=rounds)
        done = jam_session(
            model, options, cfg, jcfg, Input(in_port, virtual_in, out.port.api), out.port,
            record=rec, view=_View(quiet),
        )
        _end(done, None if quiet else f"answered {done.result.rounds} phrase(s)")
