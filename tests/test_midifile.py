"""Tests of composer.midifile: structure checks, limits, notes, writing scores."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from composer.errors import MidiError, OutputError
from composer.events import Note
from composer.midifile import (
    check_midi_bytes,
    find_midi_files,
    load_score,
    notes_span_beats,
    pitched_notes,
    score_from_notes,
    write_score,
)


def _smf(
    fmt: int = 0, ntrks: int = 1, division: int = 480, tracks: int = 1, body: bytes = b""
) -> bytes:
    """A hand-made standard MIDI file: header plus ``tracks`` track chunks."""
    events = body or b"\x00\xff\x2f\x00"  # end of track
    chunk = b"MTrk" + struct.pack(">I", len(events)) + events
    return b"MThd" + struct.pack(">IHHH", 6, fmt, ntrks, division) + chunk * tracks


def test_a_hand_made_file_passes() -> None:
    check_midi_bytes(_smf())
    check_midi_bytes(_smf(fmt=1, ntrks=3, tracks=3))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"RIFF\x00\x00\x00\x00RMIDdata", "RIFF"),
        (b"MTrk" + bytes(20), "no MThd header"),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "no MThd header"),
        (b"MThd\x00\x00\x00\x06\x00", "no MThd header"),  # shorter than a header
        (b"MThd" + struct.pack(">IHHH", 2, 0, 1, 480), "corrupt MIDI header"),
        (b"MThd" + struct.pack(">IHHH", 600, 0, 1, 480), "corrupt MIDI header"),
        (_smf(fmt=3), "unknown MIDI format 3"),
        (_smf(division=0), "0 ticks per quarter note"),
        (_smf(division=0xE728), "SMPTE"),  # -25 fps, 40 ticks per frame
        (_smf()[:-2], "truncated MIDI file"),
        (_smf(tracks=2)[:-1], "chunk 2 runs past the end"),
        (_smf(tracks=0), "no track data"),
        (_smf(ntrks=5000), "5000 tracks"),
    ],
)
def test_check_midi_bytes_rejects(data: bytes, message: str) -> None:
    with pytest.raises(MidiError, match=message) as info:
        check_midi_bytes(data, "song.mid")
    assert str(info.value).startswith("song.mid: ")


def test_track_limit_counts_chunks() -> None:
    with pytest.raises(MidiError, match="3 tracks \\(limit 2\\)"):
        check_midi_bytes(_smf(ntrks=1, tracks=3), max_tracks=2)


def test_load_score_and_pitched_notes(midi_factory) -> None:  # type: ignore[no-untyped-def]
    path = midi_factory.song("a.mid", [(60, 0.0, 1.0), (64, 0.5, 0.25), (67, 2.0, 1.5)], tpq=96)
    score = load_score(path)
    assert score.tpq == 96
    assert pitched_notes(score) == [
        Note(0.0, 60, 1.0, 90),
        Note(0.5, 64, 0.25, 90),
        Note(2.0, 67, 1.5, 90),
    ]
    assert notes_span_beats(pitched_notes(score)) == 3.5
    assert notes_span_beats([]) == 0.0
    drums = load_score(midi_factory.song("d.mid", [(36, 0.0, 1.0)], drum=True))
    assert pitched_notes(drums) == []  # drum notes are not pitches


def test_load_score_refusals(midi_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MidiError, match="no such file"):
        load_score(tmp_path / "missing.mid")
    with pytest.raises(MidiError, match="is a folder"):
        load_score(tmp_path)
    big = midi_factory.song("big.mid", [(60 + i % 12, i * 0.25, 0.25) for i in range(50)])
    with pytest.raises(MidiError, match="50 notes is over the limit of 10"):
        load_score(big, max_notes=10)
    assert len(load_score(big, max_notes=50).tracks[0].notes) == 50
    with pytest.raises(MidiError, match="over the limit of 20"):
        load_score(big, max_bytes=20)
    with pytest.raises(MidiError, match="empty file"):
        load_score(midi_factory.raw("zero.mid", b""))
    with pytest.raises(MidiError, match="not a MIDI file") as info:
        load_score(midi_factory.raw("junk.mid", bytes(range(64)) * 2))
    assert "junk.mid" in str(info.value)
    # A "MIDI bomb" one note long but a million beats away.
    far = midi_factory.song("far.mid", [(60, 0.0, 1.0), (62, 2_000_000.0, 1.0)], tpq=24)
    with pytest.raises(MidiError, match="beats long"):
        load_score(far)


def test_score_from_notes_round_trip(tmp_path: Path) -> None:
    notes = [Note(0.0, 60, 1.0, 100), Note(0.5, 67, 0.5, 70), Note(1.0, 64, 3.0, 80)]
    score = score_from_notes(notes, tempo=90.0, time_signature=(3, 4), program=40, tpq=480)
    path = write_score(score, tmp_path / "x" / "out.mid")
    back = load_score(path)
    assert pitched_notes(back) == notes
    assert back.tempos[0].qpm == pytest.approx(90.0)
    assert (back.time_signatures[0].numerator, back.time_signatures[0].denominator) == (3, 4)
    assert back.tracks[0].program == 40
    with pytest.raises(OutputError, match="exists"):
        write_score(score, path)


def test_find_midi_files(midi_factory) -> None:  # type: ignore[no-untyped-def]
    for name in ("b.mid", "a.MID", "sub/c.midi", "sub/deeper/d.Mid"):
        midi_factory.song(name)
    midi_factory.raw("notes.txt", b"x")
    midi_factory.raw("sub/e.mid.bak", b"x")
    (midi_factory.root / "folder.mid").mkdir()
    found = [
        p.relative_to(midi_factory.root).as_posix() for p in find_midi_files(midi_factory.root)
    ]
    assert found == ["a.MID", "b.mid", "sub/c.midi", "sub/deeper/d.Mid"]
