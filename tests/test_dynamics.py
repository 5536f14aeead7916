"""``--humanize``: velocities shaped by metre, voice, line and ending; nothing else changes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from statistics import mean

import pytest
from typer.testing import CliRunner

from composer.cli import app
from composer.events import Note
from composer.generation import read_record
from composer.generation.dynamics import humanize
from composer.generation.setup import GeneratedPiece
from composer.midifile import load_score

runner = CliRunner()


def _chorale(seed: int = 5, primer_notes: int = 0) -> GeneratedPiece:
    """Eight bars of four voices in quarter and eighth notes, all at velocity 80."""
    voices: list[list[Note]] = []
    for v, base in enumerate((72, 64, 57, 48)):
        line, t = [], 0.0
        while t < 32:
            step = 0.5 if (v == 1 and int(t) % 2) else 1.0  # the alto moves in eighths every other beat
            line.append(Note(t, base + (int(t * 2) % 5), step, 80))
            t += step
        voices.append(line)
    return GeneratedPiece(notes=sorted(n for v in voices for n in v), bars=8, time_signature=(4, 4), tempo=90.0,
                          program=52, key="C major", seed=seed, primer_notes=primer_notes, voices=voices)


def test_only_velocities_change_and_they_follow_the_music() -> None:
    piece = _chorale()
    out = humanize(piece)
    assert [(n.start, n.pitch, n.duration) for n in out.notes] == [(n.start, n.pitch, n.duration) for n in piece.notes]
    assert [len(v) for v in out.voices or []] == [len(v) for v in piece.voices or []]
    vel = [n.velocity for n in out.notes]
    assert 24 <= min(vel) and max(vel) <= 120 and len(set(vel)) > 10
    body = [n for n in out.notes if n.start < 24]  # before the final diminuendo
    downbeats = [n.velocity for n in body if n.start % 4 == 0]
    offbeats = [n.velocity for n in body if n.start % 1]
    assert mean(downbeats) > mean(offbeats) + 10
    sop, alto = out.voices[0], out.voices[1]  # type: ignore[index]
    assert mean(n.velocity for n in sop) > mean(n.velocity for n in alto) + 5
    last_bar = [n.velocity for n in out.notes if n.start >= 28]
    first_bars = [n.velocity for n in out.notes if n.start < 8]
    assert mean(last_bar) < mean(first_bars) - 4


def test_the_same_piece_gets_the_same_velocities() -> None:
    assert humanize(_chorale(5)).notes == humanize(_chorale(5)).notes
    assert humanize(_chorale(5)).notes != humanize(_chorale(6)).notes


def test_a_primer_melody_keeps_its_velocities() -> None:
    piece = _chorale(primer_notes=8)
    out = humanize(piece)
    assert out.voices is not None and piece.voices is not None
    assert out.voices[0][:8] == piece.voices[0][:8]
    assert out.voices[0][8:] != piece.voices[0][8:]


def test_one_merged_track_accents_its_top_note() -> None:
    piece = _chorale()
    merged = replace(piece, voices=None)
    out = humanize(merged)
    assert out.voices is None and len(out.notes) == len(piece.notes)
    top = [n.velocity for n in out.notes if n.pitch >= 72]
    rest = [n.velocity for n in out.notes if n.pitch < 60]
    assert mean(top) > mean(rest)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_generate_humanize_is_recorded_and_replayed(tmp_path: Path) -> None:
    args = ["generate", "-n", "1", "--bars", "2", "--seed", "4", "--best-of", "1"]
    for name, extra in (("plain", []), ("human", ["--humanize"])):
        r = runner.invoke(app, [*args, *extra, "-o", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
    plain, human = (load_score(tmp_path / n / "chorales-001.mid") for n in ("plain", "human"))
    assert [t.name for t in human.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    for a, b in zip(plain.tracks, human.tracks, strict=True):
        assert [(n.time, n.pitch, n.duration) for n in a.notes] == [(n.time, n.pitch, n.duration) for n in b.notes]
    assert len({n.velocity for t in plain.tracks for n in t.notes}) == 1
    assert len({n.velocity for t in human.tracks for n in t.notes}) > 5
    rec = read_record(tmp_path / "human" / "chorales-001.json")
    assert rec["humanize"] is True and "humanize" not in read_record(tmp_path / "plain" / "chorales-001.json")
    r = runner.invoke(app, ["generate", "--again", str(tmp_path / "human" / "chorales-001.json"), "-o",
                            str(tmp_path / "again")])
    assert r.exit_code == 0, r.output
    again = (tmp_path / "again" / "chorales-001.mid").read_bytes()
    assert again == (tmp_path / "human" / "chorales-001.mid").read_bytes()
    bad = json.loads((tmp_path / "human" / "chorales-001.json").read_text()) | {"humanize": "yes"}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    r = runner.invoke(app, ["generate", "--again", str(tmp_path / "bad.json"), "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "humanize" in r.stderr
