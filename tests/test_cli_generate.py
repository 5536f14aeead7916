"""What a user of ``generate`` and ``continue`` sees: a reviewer's findings, each reproduced and then mended."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from composer.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_the_score_shown_is_the_kept_candidates(tmp_path: Path) -> None:
    """Best of 2: the table's score is the written piece's (the one its record names), not the best of all."""
    args = ["generate", "-n", "3", "--bars", "2", "--seed", "5", "--best-of", "2", "-o", str(tmp_path)]
    docs = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    for d in docs:
        record = json.loads(Path(d["path"]).with_suffix(".json").read_text())
        assert d["chosen"] == record["batch"]["chosen"] and len(d["candidate_scores"]) == 2
    table = runner.invoke(app, [*args[:-1], str(tmp_path / "again")]).stdout
    shown = {f"{d['candidate_scores'][d['chosen']]:.3f}" for d in docs}
    for d in docs:
        assert f"{d['candidate_scores'][d['chosen']]:.3f}" in table
        assert all(f"{s:.3f}" not in table for s in d["candidate_scores"] if f"{s:.3f}" not in shown)


def test_seconds_are_counted_at_the_tempo_written(tmp_path: Path) -> None:
    """--seconds without --tempo: whole bars at the model's own tempo (the chorales': 80 bpm; 4 bars = 12 s)."""
    result = runner.invoke(app, ["generate", "--seconds", "12", "--seed", "1", "--best-of", "1", "-o", str(tmp_path),
                                 "--json"])
    doc = json.loads(result.stdout)[0]
    assert doc["tempo"] == 80 and doc["bars"] == 4 and doc["seconds"] == 12.0


def test_one_stream_options_are_refused_by_the_four_voice_model(tmp_path: Path) -> None:
    assert "four-voice model" in _error(["generate", "--pitch-min", "60", "-o", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_out_naming_a_file_writes_that_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--bars", "2", "--seed", "2", "--best-of", "1", "-o",
                                 str(tmp_path / "piece.mid")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "piece.mid").is_file() and (tmp_path / "piece.json").is_file()
    assert "give a folder" in _error(["generate", "-n", "2", "-o", str(tmp_path / "two.mid")])


@pytest.mark.parametrize("bad", [["--tempo", "5"], ["--bars", "0"], ["--program", "300"]])
def test_a_bad_option_leaves_no_empty_folder(tmp_path: Path, bad: list[str]) -> None:
    _error(["generate", *bad, "-o", str(tmp_path / "new")])
    assert not (tmp_path / "new").exists()


def test_a_melody_four_voices_cannot_go_beneath(tmp_path: Path) -> None:
    out = str(tmp_path / "h.mid")
    low = _error(["continue", "C3 D3 E3 F3 G3:4", "--voices", "-o", out])
    assert "below the soprano's range (C4-G5" in low and "up an octave" in low
    clash = _error(["continue", "tinyNotation: 4/4 c4 d e f g2 g", "--voices", "--key", "F# major", "-o", out])
    assert "not in F# major" in clash and "reads as C major" in clash
    assert not Path(out).exists()
    ok = runner.invoke(app, ["continue", "tinynotation: 4/4 d4 f a g f e d c# d2", "--voices", "--key", "d MINOR",
                             "--seed", "1", "-o", out])
    assert ok.exit_code == 0, ok.output


def test_an_edited_record_is_named_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--bars", "2", "--seed", "2", "--best-of", "1", "-o",
                                 str(tmp_path / "a.mid")])
    assert result.exit_code == 0, result.output
    rec = json.loads((tmp_path / "a.json").read_text())
    rec["options"]["bogus"] = 1
    (tmp_path / "b.json").write_text(json.dumps(rec))
    assert "unknown sampling option 'bogus'" in _error(["generate", "--again", str(tmp_path / "b.json"), "-o",
                                                        str(tmp_path / "c.mid")])


def test_typed_melody_forms() -> None:
    from composer.errors import InputError
    from composer.generation import parse_primer
    from composer.keys import key_name, parse_key

    assert [n.pitch for n in parse_primer("TinyNotation: 4/4 c4 d e").notes] == [60, 62, 64]
    with pytest.raises(InputError, match="at least 0.0625 beats"):
        parse_primer("C4:0.001 D4")
    assert [key_name(parse_key(k)) for k in ("D Major", "f# MINOR", "EM", "Em")] == [
        "D major", "F# minor", "E major", "E minor"]


def test_harmonizing_with_a_one_stream_model_never_doubles_a_note(tmp_path: Path) -> None:
    """One track: two notes of one pitch at one onset would be cut by the first note-off."""
    import collections

    import pretty_midi

    out = tmp_path / "f.mid"
    result = runner.invoke(app, ["continue", "tinyNotation: 4/4 g4 g a b c'2 b a4 a g f# g1", "--voices", "-m",
                                 "folk", "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    pm = pretty_midi.PrettyMIDI(str(out))
    count = collections.Counter((round(n.start, 4), n.pitch) for i in pm.instruments for n in i.notes)
    assert max(count.values()) == 1


def test_a_melody_is_continued_in_a_key_it_fits() -> None:
    """Candidates of a continuation try the melody's key and its relative only where the melody fits both: a D minor
    tune with its C sharp is continued in D minor, not F major (4 seeds of 5 chose F major before)."""
    from composer.events import Note
    from composer.generation.satb import in_scale
    from composer.keys import parse_key

    d_minor = [Note(float(i), p, 1.0) for i, p in enumerate([62, 65, 69, 67, 65, 64, 62, 61, 62])]
    assert in_scale(d_minor, parse_key("D minor")) and not in_scale(d_minor, parse_key("F major"))
    tune = [Note(float(i), p, 1.0) for i, p in enumerate([67, 69, 71, 72])]
    assert in_scale(tune, parse_key("C major")) and in_scale(tune, parse_key("A minor"))


def test_each_batch_is_written_when_it_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long run writes its pieces batch by batch: Ctrl+C in the second batch keeps the first batch's files."""
    import composer.generation.select as select
    from composer.config import SampleOptions
    from composer.generation import Request, write_best

    monkeypatch.setattr(select, "MAX_BATCH", 2)
    real, calls = select.sample_candidates, []

    def interrupted(part):  # type: ignore[no-untyped-def]
        calls.append(part)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(part)

    monkeypatch.setattr(select, "sample_candidates", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_best(tmp_path, Request(None, n=3, best_of=1, bars=2, options=SampleOptions(seed=4)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chorales-001.json", "chorales-001.mid",
                                                          "chorales-002.json", "chorales-002.mid"]


def test_a_one_stream_piece_has_its_key_signature(tmp_path: Path) -> None:
    import mido

    out = tmp_path / "f.mid"
    result = runner.invoke(app, ["generate", "-m", "folk", "--bars", "2", "--seed", "11", "--key", "D minor", "-o",
                                 str(out)])
    assert result.exit_code == 0, result.output
    keys = [m.key for t in mido.MidiFile(out).tracks for m in t if m.type == "key_signature"]
    assert keys == ["Dm"]


def test_analyze_with_json_puts_the_analysis_in_the_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--bars", "2", "--seed", "1", "--best-of", "1", "--analyze", "--json",
                                 "-o", str(tmp_path)])
    doc = json.loads(result.stdout)[0]
    assert doc["analysis"]["key"] and doc["analysis"]["bars"] == 2


def test_continue_json_says_the_candidates_and_the_kept_one(tmp_path: Path) -> None:
    out = tmp_path / "c.mid"
    result = runner.invoke(app, ["continue", "C4 D4 E4", "--bars", "2", "--best-of", "3", "--seed", "2", "--json",
                                 "-o", str(out)])
    doc = json.loads(result.stdout)
    record = json.loads(out.with_suffix(".json").read_text())
    assert len(doc["candidate_scores"]) == 3 and doc["chosen"] == record["batch"]["chosen"]


def test_an_empty_model_name_is_refused() -> None:
    assert "'--model' / '-m': is empty" in _error(["generate", "-m", "", "--bars", "2"])
