"""``play --synth`` / ``jam --synth``: live sound through the real FluidSynth, no MIDI port.

FluidSynth's ``file`` audio driver runs in real time like a sound card but writes a WAV, so the
sound of a live session can be checked here without one.  Where FluidSynth or a soundfont is
missing these tests skip with the reason (the README's test command installs both).
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

import mido
import numpy as np
import pytest
from helpers import one_line_error
from jackfixture import jack  # noqa: F401  (pytest fixture)
from test_audio import needs_synth
from typer.testing import CliRunner

from composer.cli import app
from composer.errors import InputError, PortError
from composer.live.session import Output
from composer.live.synth import SynthPort, SynthSettings, synth_command


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_messages_become_fluidsynth_shell_commands() -> None:
    m = mido.Message
    assert synth_command(m("note_on", channel=2, note=60, velocity=96)) == "noteon 2 60 96"
    assert synth_command(m("note_on", channel=2, note=60, velocity=0)) == "noteoff 2 60"
    assert synth_command(m("note_off", channel=0, note=61)) == "noteoff 0 61"
    assert synth_command(m("control_change", channel=0, control=123, value=0)) == "cc 0 123 0"
    assert synth_command(m("program_change", channel=9, program=52)) == "prog 9 52"
    assert synth_command(m("pitchwheel", channel=0, pitch=-8192)) == "pitch_bend 0 0"
    assert synth_command(m("clock")) is None and synth_command(m("start")) is None


def test_settings_refuse_malformed_options() -> None:
    with pytest.raises(InputError, match="NAME=VALUE"):
        SynthSettings(options=("synth.gain",))
    with pytest.raises(InputError, match="gain"):
        SynthSettings(gain=0.0)
    with pytest.raises(InputError, match="not both"):
        Output(port="x", synth=SynthSettings()).check()


@needs_synth
def test_command_line() -> None:
    cmd = SynthSettings(driver="jack", options=("synth.reverb.active=0",)).command()
    assert cmd[1:7] == ["-n", "-g", "0.5", "-a", "jack", "-o"]
    assert "synth.reverb.active=0" in cmd and cmd[-1].endswith(".sf2")
    assert "audio.jack.autoconnect=1" in cmd  # a JACK synth is connected to the speakers at once
    assert "audio.jack.autoconnect=1" not in SynthSettings(driver="pulseaudio").command()


def _level(path: Path) -> tuple[float, float]:
    """Seconds and peak (fraction of full scale) of a 16-bit WAV."""
    with wave.open(str(path)) as w:
        frames = w.readframes(w.getnframes())
        seconds = w.getnframes() / w.getframerate()
    samples = np.frombuffer(frames, dtype="<i2")
    return seconds, float(np.abs(samples.astype(np.int32)).max()) / 32768 if samples.size else 0.0


@needs_synth
@pytest.mark.slow
def test_play_synth_sounds_in_real_time(runner: CliRunner, tmp_path: Path) -> None:
    wav = tmp_path / "live.wav"
    r = runner.invoke(app, ["play", "--model", "builtin:scale", "--synth", "--audio-driver", "file",
                            "--synth-option", f"audio.file.name={wav}", "--tempo", "240", "--bars", "2",
                            "--record", str(tmp_path / "played.mid")])
    assert r.exit_code == 0, r.output
    assert "played 36 notes, 2.0 bars (end)" in r.stderr  # the scale source: chords and a line
    seconds, peak = _level(wav)
    assert 1.8 <= seconds <= 6.0  # 8 beats at 240 bpm = 2 s of music, in real time, plus start and stop
    assert peak > 0.01  # heard, not silence


@needs_synth
def test_a_synth_that_cannot_sound_fails_before_the_model_loads(runner: CliRunner) -> None:
    r = runner.invoke(app, ["play", "--model", "no-such-model", "--synth", "--audio-driver", "nosuch"])
    line = one_line_error(r, "FluidSynth could not start with audio driver nosuch", "--audio-driver")
    assert "no-such-model" not in line  # the synth was checked first: no model load was tried


@needs_synth
def test_synth_port_reports_fluidsynth_ending(tmp_path: Path) -> None:
    port = SynthPort(SynthSettings(driver="file", options=(f"audio.file.name={tmp_path / 'x.wav'}",)))
    try:
        port.send(mido.Message("note_on", note=60, velocity=90))
        assert port.alive()
    finally:
        port.close()
    assert not port.alive()
    with pytest.raises(OSError, match="FluidSynth ended"):
        port.send(mido.Message("note_off", note=60))


def test_no_fluidsynth_says_what_to_install(runner: CliRunner, tmp_path: Path) -> None:
    r = runner.invoke(app, ["play", "--model", "builtin:scale", "--synth"], env={"PATH": str(tmp_path)})
    one_line_error(r, "FluidSynth is not installed", "apt install fluidsynth")


def test_synth_options_need_synth_and_no_port(runner: CliRunner) -> None:
    r = runner.invoke(app, ["play", "--model", "builtin:scale", "--audio-driver", "file"])
    one_line_error(r, "go with --synth")
    r = runner.invoke(app, ["play", "--model", "builtin:scale", "--synth", "--clock-out"])
    one_line_error(r, "--clock-out", "--synth")
    r = runner.invoke(app, ["jam", "--virtual-in", "x", "--synth", "--synth-option", "bad"])
    one_line_error(r, "NAME=VALUE")


@needs_synth
@pytest.mark.jack
def test_jack_driver_registers_audio_ports(jack: str, tmp_path: Path) -> None:  # noqa: F811
    import subprocess

    env = {**os.environ, "JACK_DEFAULT_SERVER": jack}
    old = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = jack
    try:
        port = SynthPort(SynthSettings(driver="jack"))
    except PortError as exc:  # pragma: no cover - a JACK server that refuses clients
        pytest.skip(str(exc))
    finally:
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER")
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old
    try:
        port.send(mido.Message("note_on", note=60, velocity=90))
        listed = subprocess.run(["jack_lsp"], capture_output=True, text=True, env=env, timeout=10).stdout
        assert "fluidsynth" in listed.lower(), listed
    finally:
        port.close()


@needs_synth
def test_a_soundfont_fluidsynth_cannot_load_is_an_error_not_silence(tmp_path: Path) -> None:
    fake = tmp_path / "broken.sf2"
    fake.write_bytes(b"RIFF\x10\x00\x00\x00sfbk" + b"\x00" * 16)  # the header passes, the body does not
    with pytest.raises(PortError, match="FluidSynth started but said: Failed to load SoundFont"):
        SynthPort(SynthSettings(soundfont=fake, driver="file", options=(f"audio.file.name={tmp_path / 'x.wav'}",)))
