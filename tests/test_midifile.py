"""Tests of composer.midifile: structure checks, limits, notes, writing scores."""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import _fuzz
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from symusic import Score

from composer.errors import MidiError, OutputError
from composer.events import Note
from composer.midifile import (
    check_midi_bytes,
    find_midi_files,
    load_score,
    notes_span_beats,
    pitched_notes,
    restruck_notes,
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


# ---- notes struck again before their note-off ---------------------------------------------------
def _on(pitch: int, velocity: int = 80, channel: int = 0) -> bytes:
    return bytes([0x90 | channel, pitch, velocity])


def _off(pitch: int, channel: int = 0) -> bytes:
    return bytes([0x80 | channel, pitch, 0])


def _notes_of(tmp_path: Path, events: list[tuple[int, bytes]], *tracks: list[tuple[int, bytes]]) -> list[list[tuple]]:
    """(start, duration, pitch, velocity) in ticks per track of a hand-made file of these events."""
    path = tmp_path / "t.mid"
    path.write_bytes(_fuzz.smf([_fuzz.track(e) for e in (events, *tracks)]))
    score = load_score(path)
    return [[(n.time, n.duration, n.pitch, n.velocity) for n in t.notes] for t in score.tracks]


def test_a_note_struck_again_ends_there(tmp_path: Path) -> None:
    """C4 at 0 and again at 480 before either note-off: each note ends where the next one starts.

    symusic alone pairs the note-offs first in, first out: (0, 960) and (480, 960), and where the
    second note-off never comes, the second note is lost.
    """
    two_offs = [(0, _on(60)), (480, _on(60, 70)), (480, _off(60)), (480, _off(60))]
    assert _notes_of(tmp_path, two_offs) == [[(0, 480, 60, 80), (480, 480, 60, 70)]]
    one_off = [(0, _on(60)), (480, _on(60, 70)), (480, _off(60))]
    assert _notes_of(tmp_path, one_off) == [[(0, 480, 60, 80), (480, 480, 60, 70)]]


def test_repeated_notes_over_a_held_unison_do_not_run_on(tmp_path: Path) -> None:
    """A held E4 (0-4 beats) over which another voice of the track strikes E4 every beat.

    Before, every note took the note-off of the one before: the last ones ran on to the end.
    Now no note runs past the next onset of its pitch, and the struck notes keep their beat.
    """
    events = [(0, _on(64)), (0, _on(64, 70))]  # both voices at 0; the held one is released at 4
    for beat in range(1, 5):
        events += [(480, _off(64)), (0, _on(64, 70))] if beat < 4 else [(480, _off(64)), (0, _off(64))]
    events += [(0, _on(67)), (480, _off(67))]
    (notes,) = _notes_of(tmp_path, events)
    es = [n for n in notes if n[2] == 64]
    assert [n[0] for n in es] == [0, 0, 480, 960, 1440]
    assert all(a[0] + a[1] <= b[0] for a, b in zip(es, es[1:], strict=False) if b[0] > a[0])
    assert max(n[1] for n in es) == 480


def test_a_note_off_written_before_its_note_on_is_a_zero_length_note(tmp_path: Path) -> None:
    """music21 writes a grace note's note-off first at its tick: that note has no length.

    Before, the grace note took the next note's note-off, and every later note of its pitch the one
    after (the Haydn quartet of the report read G major for C major, notes 163 beats long).
    """
    events = [(0, _off(76)), (0, _on(76, 60)), (0, _on(76)), (480, _off(76))]
    for _ in range(3):
        events += [(0, _on(76)), (480, _off(76))]
    (notes,) = _notes_of(tmp_path, events)
    assert notes == [(0, 0, 76, 60), (0, 480, 76, 80), (480, 480, 76, 80), (960, 480, 76, 80), (1440, 480, 76, 80)]


def test_files_without_restruck_notes_are_read_as_they_are(tmp_path: Path) -> None:
    """Unisons struck together, running status, other channels and tracks: nothing is rewritten."""
    unison = [(0, _on(60)), (0, _on(60, 70)), (480, _off(60)), (480, _off(60))]
    running = [(0, _on(62)), (480, bytes([64, 80])), (0, bytes([62, 0])), (480, bytes([64, 0]))]
    channels = [(0, _on(60)), (0, _on(60, 70, 1)), (480, _off(60)), (480, _off(60, 1))]
    data = _fuzz.smf([_fuzz.track(unison), _fuzz.track(running), _fuzz.track(channels)])
    assert restruck_notes(data) is None
    path = tmp_path / "u.mid"
    path.write_bytes(data)
    assert [[(n.time, n.duration) for n in t.notes] for t in load_score(path).tracks] == [
        [(0, 480), (0, 960)], [(0, 480), (480, 480)], [(0, 480)], [(0, 960)]
    ]


def test_a_rewritten_file_keeps_its_other_events(tmp_path: Path) -> None:
    """Tempo, time signature, marker, program, controller and the other tracks survive a rewrite."""
    meta = [(0, _fuzz.tempo_event(90.0)), (0, b"\xff\x58\x04\x03\x02\x18\x08"), (0, b"\xff\x06\x07fermata")]
    track = [(0, b"\xc0\x28"), (0, b"\xb0\x40\x7f"), (0, _on(60)), (240, _on(60)), (240, _off(60)),
             (0, _on(64)), (240, _off(60)), (0, b"\xf0\x03\x7e\x09\xf7"), (240, bytes([0x80, 64, 0]))]
    other = [(0, _on(48, 90, 1)), (960, _off(48, 1))]
    data = _fuzz.smf([_fuzz.track(meta), _fuzz.track(track), _fuzz.track(other)])
    fixed = restruck_notes(data)
    assert fixed is not None
    check_midi_bytes(fixed)
    path = tmp_path / "r.mid"
    path.write_bytes(data)
    score = load_score(path)
    assert score.tempos[0].qpm == pytest.approx(90.0)
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (3, 4)
    assert [(m.time, m.text) for m in score.markers] == [(0, "fermata")]
    piano, bass = score.tracks
    assert (piano.program, [(c.number, c.value) for c in piano.controls]) == (40, [(64, 127)])
    assert [(n.time, n.duration, n.pitch) for n in piano.notes] == [(0, 240, 60), (240, 240, 60), (480, 480, 64)]
    assert [(n.time, n.duration, n.pitch) for n in bass.notes] == [(0, 960, 48)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 0, 120, 480]), st.booleans(), st.sampled_from([60, 60, 62])),
                max_size=40))
def test_no_note_runs_past_the_next_onset_of_its_pitch(tmp_path_factory: pytest.TempPathFactory,
                                                       steps: list[tuple[int, bool, int]]) -> None:
    """Any stream of note-ons and note-offs: no note outlasts the next onset of its pitch, none is lost
    that symusic keeps, and every note starts at a note-on of the file."""
    events = [(d, _on(p) if on else _off(p)) for d, on, p in steps]
    data = _fuzz.smf([_fuzz.track(events)])
    path = tmp_path_factory.mktemp("h") / "h.mid"
    path.write_bytes(data)
    notes = [n for t in load_score(path).tracks for n in t.notes]
    plain = [n for t in Score.from_midi(data).tracks for n in t.notes]
    assert len(notes) >= len(plain)
    onsets, tick = Counter(), 0
    for d, on, p in steps:
        tick += d
        onsets[(tick, p)] += on
    assert not Counter((n.time, n.pitch) for n in notes) - onsets
    for pitch in (60, 62):
        ns = sorted((n.time, n.time + n.duration) for n in notes if n.pitch == pitch)
        assert all(end <= b[0] for (start, end), b in zip(ns, ns[1:], strict=False) if b[0] > start)
