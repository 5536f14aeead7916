"""Live MIDI: play the model on a port in real time, follow a clock, answer a player.

The package, lowest first (a module imports only those before it):

- :mod:`~composer.live.ports`: listing, opening and watching MIDI ports (mido/rtmidi, lazily);
- :mod:`~composer.live.synth`: ``--synth``, FluidSynth as the output (:class:`SynthPort`);
- :mod:`~composer.live.timeline`: :class:`TempoMap` (beat <-> time) and :func:`note_events`;
- :mod:`~composer.live.player`: :class:`Player`, the look-ahead scheduler, and its
  :class:`LiveConfig`, :class:`LiveStatus`, :class:`PlayResult`;
- :mod:`~composer.live.clock`: :class:`ClockFollower`, tempo and Start/Stop of an incoming clock;
- :mod:`~composer.live.jam`: call and response, :class:`PhraseListener` and :class:`Jam`;
- :mod:`~composer.live.sources`: where notes come from: the model (``composer.generation``,
  imported only when a model plays) or the built-in test source;
- :mod:`~composer.live.session`: a whole ``play`` or ``jam`` command past its options: model
  check, ports, signals, the port watcher, the clock-in wait, recording.

Importing this package loads neither mido nor torch.
"""

from __future__ import annotations

from composer.live.clock import ClockFollower
from composer.live.jam import Continuation, Jam, JamConfig, JamResult, PhraseListener
from composer.live.player import LiveConfig, LiveStatus, Player, PlayResult
from composer.live.ports import (
    API_ALIASES,
    CLIENT_NAME,
    PortInfo,
    PortWatch,
    available_apis,
    backend_name,
    list_ports,
    match_port,
    open_input,
    open_output,
)
from composer.live.session import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    THREADS_ENV,
    Input,
    Output,
    Recording,
    Session,
    SessionResult,
    SessionView,
    check_model,
    close_port,
    jam_config,
    jam_session,
    live_config,
    load_primer,
    play_config,
    play_session,
    status_text,
    torch_threads,
)
from composer.live.sources import (
    BUILTIN_PREFIX,
    BUILTIN_SOURCES,
    TEST_SOURCE_ENV,
    builtin_name,
    continuation,
    note_stream,
    retrograde_answer,
    scale_stream,
)
from composer.live.synth import SynthPort, SynthSettings
from composer.live.timeline import CLOCK_PPQN, NoteEvent, TempoMap, note_events

__all__ = [
    "API_ALIASES",
    "BUILTIN_PREFIX",
    "BUILTIN_SOURCES",
    "CLIENT_NAME",
    "CLOCK_PPQN",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "TEST_SOURCE_ENV",
    "THREADS_ENV",
    "ClockFollower",
    "Continuation",
    "Input",
    "Jam",
    "JamConfig",
    "JamResult",
    "LiveConfig",
    "LiveStatus",
    "NoteEvent",
    "Output",
    "PhraseListener",
    "PlayResult",
    "Player",
    "PortInfo",
    "PortWatch",
    "Recording",
    "Session",
    "SessionResult",
    "SessionView",
    "SynthPort",
    "SynthSettings",
    "TempoMap",
    "available_apis",
    "backend_name",
    "builtin_name",
    "check_model",
    "close_port",
    "continuation",
    "jam_config",
    "jam_session",
    "list_ports",
    "live_config",
    "load_primer",
    "match_port",
    "note_events",
    "note_stream",
    "open_input",
    "open_output",
    "play_config",
    "play_session",
    "retrograde_answer",
    "scale_stream",
    "status_text",
    "torch_threads",
]
