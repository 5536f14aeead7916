"""Tests of harmonic analysis (the composer.harmony package) and `composer analyze`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("music21")

from typer.testing import CliRunner  # noqa: E402

from composer.cli import app  # noqa: E402
from composer.errors import InputError, MidiError  # noqa: E402
from composer.events import Note  # noqa: E402
from composer.harmony import (  # noqa: E402
    analysis_score,
    analyze_file,
    analyze_notes,
    analyze_piece,
    check_voice_leading,
    load_piece,
    split_voices,
)
from composer.midifile import load_score, pitched_notes, score_from_notes, write_score  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHORALES = {"bach/bwv66.6": "F# minor", "bach/bwv253": "A major", "bach/bwv347": "A major"}


def _key_of(score) -> str:  # type: ignore[no-untyped-def]
    k = score.analyze("key")
    return f"{k.tonic.name.replace('-', 'b')} {k.mode}"


@pytest.fixture(scope="module")
def chorales(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    from music21 import corpus

    folder = tmp_path_factory.mktemp("chorales")
    out = {}
    for name in CHORALES:
        score = corpus.parse(name)
        path = folder / (name.split("/")[1] + ".mid")
        score.write("midi", fp=str(path))
        out[name] = (path, score)
    return out


@pytest.fixture(scope="module")
def analyses(chorales):  # type: ignore[no-untyped-def]
    return {name: analyze_file(path) for name, (path, _) in chorales.items()}


@pytest.mark.parametrize("name", sorted(CHORALES))
def test_key_matches_known_key(name, chorales, analyses) -> None:  # type: ignore[no-untyped-def]
    _, score = chorales[name]
    sig = score.parts[0].recurse().getElementsByClass("KeySignature")[0]
    a = analyses[name]
    assert a.key.name == CHORALES[name] == _key_of(score)
    assert sig.asKey(a.key.name.split()[1]).tonic.name.replace("-", "b") == a.key.name.split()[0]
    assert 0.7 < a.key.correlation <= 1.0
    assert a.local_keys and a.local_keys[0].start == 0.0
    assert a.voices.count == 4 and a.voices.mode == "tracks"


@pytest.mark.parametrize("name", ["bach/bwv253", "bach/bwv347"])
def test_final_authentic_cadence_in_last_bar(name, chorales, analyses) -> None:  # type: ignore[no-untyped-def]
    a = analyses[name]
    final = a.final_cadence
    assert final is not None and final.kind == "authentic"
    assert final.bar == a.piece.first_bar + a.bars - 1
    assert final.key == CHORALES[name]
    assert analysis_score(a) > 0.7


def test_bar_numbers_follow_the_pickup(chorales, analyses) -> None:  # type: ignore[no-untyped-def]
    from music21 import stream

    _, score = chorales["bach/bwv253"]
    last = score.parts[0].getElementsByClass(stream.Measure)[-1].number
    a = analyses["bach/bwv253"]
    assert a.piece.first_bar == 0
    assert a.final_cadence is not None and a.final_cadence.bar == last


def test_progression_and_chords(analyses) -> None:  # type: ignore[no-untyped-def]
    a = analyses["bach/bwv347"]
    assert a.progression.startswith("A: I ")
    assert all(c.roman for c in a.chords)
    assert a.chords[-1].roman == "I"
    figs = a.figures
    assert 0 <= figs["non_diatonic_share"] < 0.2
    assert 0.5 < figs["consonance_share"] <= 1
    assert abs(sum(figs["pitch_class_histogram"].values()) - 1) < 1e-3
    assert figs["note_density"] > 1


def _planted() -> list[list[Note]]:
    """I - IV - V - I in C (bar 1) then C->D with S and B in parallel fifths (bar 2)."""
    chords = [
        (72, 67, 64, 48),  # bar 1: I
        (72, 69, 65, 53),  # IV
        (71, 67, 62, 55),  # V
        (72, 67, 64, 48),  # I
        (67, 64, 60, 48),  # bar 2: I, S G4 a twelfth over B C3
        (69, 65, 57, 50),  # ii, S A4 a twelfth over B D3: parallel fifths S-B
        (67, 62, 59, 55),  # V
        (64, 64, 60, 48),  # I
    ]
    voices: list[list[Note]] = [[], [], [], []]
    for i, chord in enumerate(chords):
        for v, p in enumerate(chord):
            voices[v].append(Note(float(i), p, 1.0))
    return voices


def test_planted_parallel_fifth_is_found() -> None:
    faults = check_voice_leading(_planted())
    fifths = [f for f in faults if f.kind == "parallel_fifths"]
    assert [(f.bar, f.voices) for f in fifths] == [(2, ("S", "B"))]
    a = analyze_notes(_planted())
    assert a.fault_counts["parallel_fifths"] == 1
    assert a.faults_per_100_beats > 0
    assert a.key.name == "C major"


def test_analyze_notes_merged_track_splits_voices() -> None:
    merged = sorted(n for v in _planted() for n in v)
    a = analyze_notes(merged)
    assert a.voices.count == 4 and a.voices.mode == "split"
    assert [f.voices for f in a.faults if f.kind == "parallel_fifths"] == [("S", "B")]


def test_split_voices_keeps_held_notes() -> None:
    notes = [Note(0, 72, 2), Note(0, 64, 1), Note(0, 48, 1), Note(1, 65, 1), Note(1, 50, 1)]
    voices, dropped = split_voices(notes, 3)
    assert dropped == 0
    assert [[n.pitch for n in v] for v in voices] == [[72], [64, 65], [48, 50]]


def test_single_track_chorale_keeps_four_voices_and_key(tmp_path, chorales) -> None:  # type: ignore[no-untyped-def]
    path, _ = chorales["bach/bwv66.6"]
    notes = pitched_notes(load_score(path))
    merged = tmp_path / "merged.mid"
    write_score(score_from_notes(notes), merged)
    assert len(load_score(merged).tracks) == 1  # type: ignore[attr-defined]
    a = analyze_file(merged)
    assert a.voices.count == 4 and a.voices.mode == "split"
    assert a.key.name == "F# minor"
    assert a.voices.dropped_notes <= 2


def test_bad_inputs_raise_input_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02")
    with pytest.raises(MidiError, match="bad.mid"):
        analyze_file(bad)
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    with pytest.raises(MidiError, match="empty"):
        analyze_file(empty)
    with pytest.raises(InputError, match="no such file"):
        analyze_file(tmp_path / "missing.mid")
    junk = tmp_path / "junk.xml"
    junk.write_text("<not music")
    with pytest.raises(InputError, match="junk.xml"):
        analyze_file(junk)
    with pytest.raises(InputError, match="unknown format"):
        (tmp_path / "x.txt").write_text("hello")
        analyze_file(tmp_path / "x.txt")


def test_musicxml_input_uses_fermatas(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from music21 import corpus

    path = tmp_path / "bwv66.musicxml"
    corpus.parse("bach/bwv66.6").write("musicxml", fp=str(path))  # type: ignore[union-attr]
    a = analyze_file(path)
    assert a.key.name == "F# minor"
    assert any(c.phrase_end == "fermata" for c in a.cadences)


def test_midi_fermata_markers_are_phrase_ends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from music21 import corpus, expressions
    from symusic import Score, TextMeta

    from composer.midifile import FERMATA_MARKER

    score = corpus.parse("bach/bwv66.6")
    fermatas = sorted({float(n.getOffsetInHierarchy(score)) for n in score.recurse().notes
                       if any(isinstance(e, expressions.Fermata) for e in n.expressions)})
    plain = tmp_path / "plain.mid"
    score.write("midi", fp=str(plain))  # type: ignore[union-attr]
    marked = Score(str(plain))
    for t in fermatas + [0.25]:  # a marker off every onset is not a phrase end
        marked.markers.append(TextMeta(round(t * marked.tpq), FERMATA_MARKER))
    (tmp_path / "marked.mid").write_bytes(bytes(marked.dumps_midi()))
    assert load_piece(plain).fermatas == []
    vp = load_piece(tmp_path / "marked.mid")
    assert vp.fermatas == fermatas and len(fermatas) >= 4
    ends = {c.offset for c in analyze_piece(vp).cadences if c.phrase_end == "fermata"}
    assert ends and ends <= set(vp.fermatas)

runner = CliRunner()


def test_cli_json_has_documented_keys(chorales) -> None:  # type: ignore[no-untyped-def]
    path, _ = chorales["bach/bwv347"]
    result = runner.invoke(app, ["analyze", str(path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    for key in (
        "schema_version",
        "source",
        "key",
        "local_keys",
        "modulations",
        "chords",
        "progression",
        "cadences",
        "voices",
        "voice_leading",
        "figures",
        "quality_score",
    ):
        assert key in doc
    assert doc["schema_version"] == 2
    assert doc["key"]["name"] == "A major"
    assert set(doc["voice_leading"]) >= {"counts", "total", "per_100_beats", "faults"}
    assert {
        "pitch_range",
        "note_density",
        "pitch_class_histogram",
        "non_diatonic_share",
        "consonance_share",
    } <= set(doc["figures"])


def test_cli_several_files_json_list(chorales) -> None:  # type: ignore[no-untyped-def]
    paths = [str(chorales[n][0]) for n in ("bach/bwv253", "bach/bwv347")]
    result = runner.invoke(app, ["analyze", *paths, "--json"])
    assert result.exit_code == 0, result.output
    docs = json.loads(result.stdout)
    assert isinstance(docs, list) and [d["key"]["name"] for d in docs] == ["A major", "A major"]


@pytest.mark.slow
def test_cli_table_roman_and_plot(tmp_path, chorales) -> None:  # type: ignore[no-untyped-def]
    from music21 import converter

    path, _ = chorales["bach/bwv253"]
    roman, png = tmp_path / "out.musicxml", tmp_path / "out.png"
    result = runner.invoke(app, ["analyze", str(path), "--roman", str(roman), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert "A major" in result.stdout and "authentic" in result.stdout
    reparsed: Any = converter.parse(str(roman))
    lyrics = [n.lyric for n in reparsed.recurse().notes if n.lyric]
    assert len(reparsed.parts) == 4 and len(lyrics) > 10 and "A: I" in lyrics
    import matplotlib.image

    img = matplotlib.image.imread(str(png))
    assert img.shape[0] >= 300 and img.shape[1] >= 600
    # no overwrite without --force; with --force it works
    again = runner.invoke(app, ["analyze", str(path), "--plot", str(png)])
    assert again.exit_code == 2 and "exists" in again.output
    forced = runner.invoke(app, ["analyze", str(path), "--plot", str(png), "--force"])
    assert forced.exit_code == 0


def test_cli_corrupt_midi_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "corrupt.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x10\x00abc")
    result = runner.invoke(app, ["analyze", str(bad)])
    assert result.exit_code == 2
    assert "corrupt.mid" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_subprocess_corrupt_and_missing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "corrupt.mid"
    bad.write_bytes(b"not a midi file at all")
    proc = subprocess.run(
        [sys.executable, "-m", "composer", "analyze", str(bad), str(tmp_path / "missing.mid")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "corrupt.mid" in proc.stderr and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()  # one line for each file that cannot be read
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines) and "missing.mid" in lines[1]


def _random_notes(seed: int, n: int) -> list[Note]:
    import random

    rng = random.Random(seed)
    return sorted(
        Note(rng.randrange(0, 64) / 4, rng.randint(40, 80), rng.choice([0.25, 0.5, 1.0, 2.0, 3.0]))
        for _ in range(n)
    )


@pytest.mark.parametrize("seed", range(5))
def test_sweeps_agree_with_brute_force(seed: int) -> None:
    """The linear sweeps behind consonance share and polyphony give the quadratic answers."""
    from collections import Counter

    from composer.harmony import ONSET_EPS, consonance_share, is_consonant, polyphony_count

    notes = _random_notes(seed, 60)
    times = sorted({n.start for n in notes} | {n.end for n in notes})
    good = total = 0.0
    for t0, t1 in zip(times, times[1:], strict=False):
        ps = [n.pitch for n in notes if n.start <= (t0 + t1) / 2 < n.end]
        if len({p % 12 for p in ps}) >= 2:
            total += t1 - t0
            good += (t1 - t0) * is_consonant(ps)
    assert consonance_share(notes) == pytest.approx(good / total)

    counts = Counter(
        sum(1 for n in notes if n.start <= t + ONSET_EPS < n.end) for t in sorted({n.start for n in notes})
    )
    assert polyphony_count(notes) == max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]


def test_key_from_pitch_class_weights_matches_music21_on_every_note() -> None:
    """key_of_notes's one-note-per-pitch-class stream gives music21's answer for the full stream."""
    from music21 import note, stream

    from composer.harmony import key_of_notes

    for seed in range(4):
        notes = _random_notes(seed, 80)
        s = stream.Stream()
        for n in notes:
            m = note.Note(n.pitch)
            m.quarterLength = n.duration
            s.insert(n.start, m)
        want, got = s.analyze("key"), key_of_notes(notes)
        assert (got.tonic.name, got.mode) == (want.tonic.name, want.mode)
        assert got.correlationCoefficient == pytest.approx(want.correlationCoefficient)
