"""Issue 12: MusicXML a notation program opens cleanly (``--musicxml``, ``analyze --roman``), re-read with music21."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from composer.cli import app
from composer.harmony import spelling

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def redundant_accidentals(score: Any) -> list[str]:
    """Shown accidentals that neither the key signature nor the bar so far call for.

    A natural (or other accidental) restoring a step that the previous bar altered is a courtesy
    accidental, which engravers print: it is not counted.
    """
    bad = []
    for part in score.parts:
        sig = {p.step: p.alter for p in part.recurse().getElementsByClass("KeySignature")[0].alteredPitches}
        previous: set[tuple[str, int]] = set()
        for m in part.getElementsByClass("Measure"):
            state: dict[tuple[str, int], float] = {}
            for n in m.recurse().notes:
                for p in n.pitches:
                    k = (p.step, p.octave)
                    implied = state.get(k, sig.get(p.step, 0))
                    shown = p.accidental is not None and p.accidental.displayStatus
                    if shown and p.alter == implied and k not in previous and not (n.tie and n.tie.type != "start"):
                        bad.append(f"{part.partName} bar {m.number}: {p.nameWithOctave}")
                    state[k] = p.alter
            previous = {k for k, a in state.items() if a != sig.get(k[0], 0)}
    return bad


@pytest.mark.parametrize(("key", "want"), [("D minor", {1: "C#", 4: "E", 8: "G#", 10: "B-"}),
                                           ("Bb major", {4: "E", 6: "G-", 10: "B-", 3: "E-"}),
                                           ("A major", {0: "C", 3: "D#", 5: "F", 8: "G#"})])
def test_spelling_follows_the_key(key: str, want: dict[int, str]) -> None:
    names = {pc: letter + ("#" * a if a > 0 else "-" * -a) for pc, (letter, a) in spelling(key).items()}
    assert {pc: names[pc] for pc in want} == want


def test_generate_musicxml_has_a_staff_per_voice_and_clean_accidentals(tmp_path: Path) -> None:
    from music21 import converter

    res = runner.invoke(app, ["generate", "-n", "2", "--bars", "8", "--seed", "4", "--key", "Bb major",
                              "--best-of", "1", "-o", str(tmp_path), "--musicxml"])
    assert res.exit_code == 0, res.output
    for i in (1, 2):
        score = converter.parse(tmp_path / f"chorales-00{i}.musicxml")
        assert [p.partName for p in score.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
        assert score.metadata.bestTitle == f"chorales-00{i}"
        assert all(p.recurse().getElementsByClass("KeySignature")[0].sharps == -2 for p in score.parts)
        assert redundant_accidentals(score) == []
        midi_notes = sum(len(p.recurse().notes) for p in score.parts)
        assert midi_notes >= 4 * 8  # every voice sounds through eight bars


def test_the_same_voices_give_the_same_musicxml_bytes(tmp_path: Path) -> None:
    from composer.events import Note
    from composer.harmony import write_voices_xml

    voices = [[Note(float(b), p + b % 3, 1.0, 80) for b in range(8)] for p in (72, 64, 55, 48)]
    names = ["Soprano", "Alto", "Tenor", "Bass"]
    a = write_voices_xml(voices, names, tmp_path / "a.musicxml", key_name="C major").read_bytes()
    b = write_voices_xml(voices, names, tmp_path / "b.musicxml", key_name="C major").read_bytes()
    assert a == b.replace(b">b<", b">a<")  # only the title (the file's name) differs
    assert b'<score-part id="P1">' in a and b'<score-part id="P4">' in a and b"encoding-date" not in a


def test_roman_musicxml_numerals_under_the_bass_and_no_stray_naturals(tmp_path: Path) -> None:
    from music21 import converter, corpus

    midi = tmp_path / "bwv66.mid"
    corpus.parse("bach/bwv66.6").write("midi", fp=str(midi))  # F# minor, three sharps
    out = tmp_path / "bwv66.musicxml"
    res = runner.invoke(app, ["analyze", str(midi), "--roman", str(out)])
    assert res.exit_code == 0, res.output
    score = converter.parse(out)
    assert score.metadata.bestTitle == "bwv66" and len(score.parts) == 4
    lyrics = [[lyr.text for n in p.recurse().notes for lyr in n.lyrics] for p in score.parts]
    assert not any(lyrics[:3]) and len(lyrics[3]) > 20  # every numeral under the bass
    assert all(" " not in t.split(": ")[-1] for t in lyrics[3])
    assert redundant_accidentals(score) == []
