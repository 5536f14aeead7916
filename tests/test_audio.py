"""Rendering MIDI to WAV with the real FluidSynth and a General MIDI soundfont (``composer render``).

The README's test command installs Debian's ``fluidsynth`` and ``fluid-soundfont-gm``; where they
are missing the rendering tests skip with the reason, and the error tests still run.
"""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest
from helpers import one_line_error
from typer.testing import CliRunner

from composer import audio
from composer.cli import app
from composer.errors import InputError, MidiError, OutputError
from composer.events import Note
from composer.midifile import score_from_notes, write_score


def _have_synth() -> str | None:
    if shutil.which("fluidsynth") is None:
        return "fluidsynth is not installed (apt install fluidsynth)"
    try:
        audio.find_soundfont()
    except InputError as exc:
        return str(exc)
    return None


needs_synth = pytest.mark.skipif(_have_synth() is not None, reason=_have_synth() or "")


@pytest.fixture
def midi(tmp_path: Path) -> Path:
    """Eight beats at 120 bpm: a C major scale over a held C (four seconds of music)."""
    notes = [Note(float(i), 60 + s, 1.0, 90) for i, s in enumerate((0, 2, 4, 5, 7, 9, 11, 12))]
    notes.append(Note(0.0, 48, 8.0, 80))
    return write_score(score_from_notes(notes, tempo=120.0, program=0), tmp_path / "scale.mid")


@needs_synth
def test_render_is_audible_and_as_long_as_the_music(midi: Path, tmp_path: Path) -> None:
    r = audio.render(midi, tmp_path / "scale.wav")
    assert r.path.is_file() and r.rate == 44100
    assert 4.0 <= r.seconds <= 4.0 + 3.0  # the music, plus the soundfont's release tail
    assert -40.0 < r.peak_dbfs < 0.0  # not silent, not clipped
    with wave.open(str(r.path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 44100)
        assert w.getnframes() / 44100 == pytest.approx(r.seconds, abs=1e-3)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


@needs_synth
def test_render_keeps_an_existing_file_unless_forced(midi: Path, tmp_path: Path) -> None:
    out = tmp_path / "scale.wav"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="exists"):
        audio.render(midi, out)
    assert out.read_bytes() == b"keep me"
    half = audio.render(midi, out, force=True, rate=22050)
    assert half.rate == 22050 and out.stat().st_size > 1000


@needs_synth
def test_render_cli_writes_beside_the_midi_file(midi: Path) -> None:
    result = CliRunner().invoke(app, ["render", str(midi)])
    assert result.exit_code == 0, result.output
    assert midi.with_suffix(".wav").is_file()
    assert f"wrote {midi.with_suffix('.wav')}" in result.stdout and "dBFS" in result.stdout


def test_render_refuses_bad_input(midi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "text.mid").write_text("not midi")
    with pytest.raises(MidiError, match="text.mid"):
        audio.render(tmp_path / "text.mid", tmp_path / "x.wav")
    with pytest.raises(InputError, match=r"must end in \.wav or \.flac"):
        audio.render(midi, tmp_path / "x.mp3")
    with pytest.raises(InputError, match="rate must be one of"):
        audio.render(midi, tmp_path / "x.wav", rate=12345)
    with pytest.raises(InputError, match="soundfont .* is not a file"):
        audio.render(midi, tmp_path / "x.wav", soundfont=tmp_path / "none.sf2")
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="apt install fluidsynth fluid-soundfont-gm"):
        audio.render(midi, tmp_path / "x.wav")
    assert not list(tmp_path.glob("*.wav"))


def test_render_cli_errors_are_one_line(midi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    one_line_error(runner.invoke(app, ["render", str(tmp_path / "missing.mid")]), "missing.mid")
    one_line_error(runner.invoke(app, ["render", str(midi), "--gain", "0"]), "gain must be in (0, 10]")
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    one_line_error(runner.invoke(app, ["render", str(midi)]), "FluidSynth is not installed")


@needs_synth
def test_render_flac_holds_the_same_music_as_the_wav(midi: Path, tmp_path: Path) -> None:
    wav, flac = audio.render(midi, tmp_path / "s.wav"), audio.render(midi, tmp_path / "s.flac")
    assert flac.path.read_bytes()[:4] == b"fLaC" and flac.seconds == wav.seconds and flac.peak_dbfs == wav.peak_dbfs
    frames, rate = audio.flac_frames(flac.path)
    assert rate == 44100 and abs(frames - wav.seconds * 44100) <= 44.1  # the same length (seconds are rounded to ms)
    assert flac.path.stat().st_size < wav.path.stat().st_size / 2  # lossless, and smaller
    (tmp_path / "bad.flac").write_bytes(b"RIFF....")
    with pytest.raises(OutputError, match="not a FLAC file"):
        audio.flac_frames(tmp_path / "bad.flac")


@needs_synth
@pytest.mark.slow
def test_generate_wav_renders_each_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "-n", "1", "--bars", "2", "--seed", "1", "--best-of", "1",
                                      "-o", str(tmp_path), "--wav", "--flac"])
    assert result.exit_code == 0, result.output
    seconds, peak = audio.wav_level(tmp_path / "chorales-001.wav")
    assert 6.0 <= seconds <= 6.0 + 5.0 and peak > -40.0  # two 4/4 bars at the model's 80 bpm, plus the choir's release
    frames, rate = audio.flac_frames(tmp_path / "chorales-001.flac")
    assert rate == 44100 and abs(frames - seconds * 44100) <= 1


def test_generate_wav_without_a_synth_fails_before_sampling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    result = CliRunner().invoke(app, ["generate", "-n", "1", "--bars", "2", "-o", str(tmp_path), "--wav"])
    one_line_error(result, "FluidSynth is not installed")
    assert not list(tmp_path.glob("*.mid"))


def test_a_file_that_is_not_a_soundfont_is_refused(midi: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    with pytest.raises(InputError, match="not a SoundFont 2 file"):
        audio.render(midi, tmp_path / "x.wav", soundfont=fake)
