"""Live sound without a MIDI port: ``--synth`` plays through a FluidSynth process.

FluidSynth runs as a subprocess in its shell mode (``fluidsynth -n SF2``) and reads one command
per line on its standard input (``noteon 0 60 96``, ``noteoff 0 60``, ``cc 0 123 0``,
``prog 0 52``): no Python binding to build, the same program :mod:`composer.audio` renders
with, and the same General MIDI soundfont.  A command reaches the synthesizer in well under a
millisecond (a pipe write); what the listener hears lags by FluidSynth's audio buffer (by
default 16 periods of 64 frames, about 23 ms at 44.1 kHz), like any soft synth.

:class:`SynthPort` looks like a mido output port to the :class:`~composer.live.Player`
(``send``, ``close``, ``name``): note, control, program and pitch-bend messages become shell
commands, and clock messages, which a synthesizer ignores, are dropped.  The process is started
and checked (its audio driver opened) before the model loads, so a machine without sound fails
in a moment with FluidSynth's own reason, not after seconds of loading.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from composer.audio import find_fluidsynth, find_soundfont
from composer.errors import InputError, PortError

READY = "Type 'help'"  # the first line of FluidSynth's shell: the synth and its audio driver are up
START_TIMEOUT = 20.0  # seconds for loading the soundfont and opening the audio driver
QUIT_WAIT = 1.5  # seconds given to ``quit`` before the process is killed (inside the session's 2 s close)


@dataclass(frozen=True)
class SynthSettings:
    """How ``--synth`` runs FluidSynth.

    ``driver`` is FluidSynth's audio driver (``-a``: pulseaudio, alsa, jack, coreaudio,
    dsound, file, ...; None = FluidSynth's default), ``options`` its ``-o NAME=VALUE``
    settings, ``gain`` its master gain (0.5, as ``composer render`` uses).
    """

    soundfont: str | Path | None = None
    driver: str | None = None
    options: tuple[str, ...] = ()
    gain: float = 0.5

    def __post_init__(self) -> None:
        for option in self.options:
            name, eq, value = option.partition("=")
            if not eq or not name.strip() or not value.strip():
                raise InputError(f"--synth-option takes NAME=VALUE (a FluidSynth setting), got {option!r}")
        if not 0 < self.gain <= 10:
            raise InputError(f"the synth's gain must be in (0, 10], got {self.gain}")

    def command(self) -> list[str]:
        """The FluidSynth command line (finding the program and the soundfont)."""
        exe, sf = find_fluidsynth(), find_soundfont(self.soundfont)
        cmd = [exe, "-n", "-g", str(self.gain)]
        if self.driver:
            cmd += ["-a", self.driver]
        options = list(self.options)
        if self.driver == "jack" and not any(o.startswith("audio.jack.autoconnect=") for o in options):
            options.append("audio.jack.autoconnect=1")  # heard at once, as a hardware synth would be
        for option in options:
            cmd += ["-o", option]
        return [*cmd, str(sf)]


def audio_drivers(exe: str) -> list[str]:
    """The audio drivers this FluidSynth was built with (``fluidsynth -a help``; [] if it won't say)."""
    try:
        done = subprocess.run([exe, "-a", "help"], capture_output=True, text=True, timeout=5,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return []
    for line in (done.stdout + done.stderr).splitlines():  # "   'alsa','file','jack'"
        names = re.findall(r"'([^']+)'", line)
        if names and line.startswith(" "):
            return names
    return []


def synth_command(msg: Any) -> str | None:
    """The FluidSynth shell command for a mido message (None: nothing a synthesizer plays)."""
    kind = msg.type
    if kind == "note_on":
        if msg.velocity == 0:
            return f"noteoff {msg.channel} {msg.note}"
        return f"noteon {msg.channel} {msg.note} {msg.velocity}"
    if kind == "note_off":
        return f"noteoff {msg.channel} {msg.note}"
    if kind == "control_change":
        return f"cc {msg.channel} {msg.control} {msg.value}"
    if kind == "program_change":
        return f"prog {msg.channel} {msg.program}"
    if kind == "pitchwheel":
        return f"pitch_bend {msg.channel} {msg.pitch + 8192}"
    return None


class SynthPort:
    """A running FluidSynth that takes mido messages like an output port.

    Starting waits until FluidSynth's shell is up (soundfont loaded, audio driver open); if the
    process ends first, a :class:`PortError` carries the error FluidSynth printed.
    """

    def __init__(self, settings: SynthSettings) -> None:
        cmd = settings.command()
        self._exe = cmd[0]
        self.name = f"FluidSynth ({settings.driver or 'default audio driver'})"
        try:  # its own session: the terminal's Ctrl+C stops the player, which then silences the synth
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, errors="replace", bufsize=1, start_new_session=True,
            )
        except OSError as exc:
            raise PortError(f"cannot start FluidSynth ({cmd[0]}): {exc.strerror or exc}") from None
        self._said: deque[str] = deque(maxlen=50)  # its last lines, for an error message
        self._ready = threading.Event()  # set when the shell is up, or when the process ended
        self._up = False  # the shell came up
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True, name="composer-fluidsynth")
        self._reader.start()
        try:
            up = self._ready.wait(START_TIMEOUT) and self._up
        except BaseException:  # Ctrl+C while it starts: no FluidSynth left behind
            self._kill()
            raise
        failed = [line for line in list(self._said) if line.startswith("fluidsynth: error:")]
        if not up or failed:  # a soundfont it could not load still gives a shell, but silence
            timed_out = not self._ready.is_set()
            self._kill()
            self._reader.join(QUIT_WAIT)  # every line it printed, for the message
            raise PortError(self._why_not(settings, timed_out) if not up else
                            f"FluidSynth started but said: {failed[-1].removeprefix('fluidsynth: error: ')}")

    def _read(self) -> None:
        """Drain FluidSynth's output (a full pipe would stall it), noting when its shell is up."""
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._said.append(line.strip())
            if line.startswith(READY):
                self._up = True
                self._ready.set()
        self._ready.set()  # the process ended: wake the starter

    def _why_not(self, settings: SynthSettings, timed_out: bool) -> str:
        lines = [line for line in self._said if line]
        own = [line for line in lines if line.startswith("fluidsynth: error:")]
        errors = [line for line in lines if "error" in line.lower()]
        said = (own or errors or lines or ["no output"])[0].removeprefix("fluidsynth: error: ").rstrip(".")
        if timed_out:
            said = f"not ready after {START_TIMEOUT:.0f} s"
        drivers = audio_drivers(self._exe)
        have = f"this FluidSynth has: {', '.join(drivers)}" if drivers else "pulseaudio, alsa, jack, coreaudio, ..."
        return (f"FluidSynth could not start with audio driver {settings.driver or '(its default)'}: {said} "
                f"(--audio-driver chooses another; {have})")

    def send(self, msg: Any) -> None:
        """Play ``msg``; raises ``OSError`` once FluidSynth is gone."""
        line = synth_command(msg)
        if line is None:
            return
        stdin = self._proc.stdin
        assert stdin is not None
        with self._lock:  # the player's sender and its clean-up may send from two threads
            if self._proc.poll() is not None:
                raise OSError(f"FluidSynth ended (exit code {self._proc.returncode})")
            stdin.write(line + "\n")
            stdin.flush()

    def alive(self) -> bool:
        """Whether FluidSynth still runs (the session's watch asks every half second)."""
        return self._proc.poll() is None

    def close(self) -> None:
        """Ask FluidSynth to quit (it finishes its audio file, if any); kill it if it does not."""
        with self._lock:
            try:
                if self._proc.poll() is None and self._proc.stdin is not None:
                    self._proc.stdin.write("quit\n")
                    self._proc.stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(QUIT_WAIT)
        except subprocess.TimeoutExpired:
            self._kill()
        self._reader.join(QUIT_WAIT)

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


class SynthWatch:
    """A :class:`~composer.live.ports.Watch` on a running synth: gone when FluidSynth ends."""

    def __init__(self, port: SynthPort) -> None:
        self.port = port
        self.name = port.name

    def exists(self) -> bool:
        """Whether FluidSynth still runs."""
        return self.port.alive()

    def close(self) -> None:
        """Nothing to release."""
