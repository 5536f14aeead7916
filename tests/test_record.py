"""Issue 12: generation records, and ``composer generate --again`` writing a file again byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import one_line_error
from test_dense_input import _multitrack
from typer.testing import CliRunner

from composer.cli import app
from composer.generation import read_record
from composer.version import __version__

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_piece_from_the_middle_of_a_batch_comes_out_byte_for_byte(tmp_path: Path) -> None:
    first, again = tmp_path / "first", tmp_path / "again"
    _ok(["generate", "-n", "3", "--bars", "2", "--seed", "7", "-o", str(first)])  # best of 4: 12 candidates
    rec = read_record(first / "chorales-002.json")
    assert rec["batch"] | {"chosen": 0} == {"n": 3, "best_of": 4, "index": 1, "chosen": 0}
    assert rec["batch"]["chosen"] in range(4) and rec["options"]["seed"] == 7  # the kept candidate's place
    assert rec["composer"] == __version__ and len(rec["model"]["sha256"]) == 64 and rec["file"] == "chorales-002.mid"
    assert read_record(first / "chorales-002.mid") == rec  # the same record inside the MIDI file
    _ok(["generate", "--again", str(first / "chorales-002.json"), "-o", str(again)])
    assert (again / "chorales-002.mid").read_bytes() == (first / "chorales-002.mid").read_bytes()
    _ok(["generate", "--again", str(first / "chorales-003.mid"), "-o", str(again / "from-midi.mid")])
    assert (again / "from-midi.mid").read_bytes() == (first / "chorales-003.mid").read_bytes()
    one_line_error(runner.invoke(app, ["generate", "--again", str(first / "chorales-002.json"), "-o", str(again)]),
                   "exists (use --force")


def test_without_a_seed_the_drawn_one_is_recorded(tmp_path: Path) -> None:
    _ok(["generate", "-n", "1", "--bars", "1", "--best-of", "1", "-o", str(tmp_path / "a")])
    rec = read_record(tmp_path / "a" / "chorales-001.json")
    assert isinstance(rec["options"]["seed"], int)
    _ok(["generate", "--again", str(tmp_path / "a" / "chorales-001.json"), "-o", str(tmp_path / "b")])
    assert (tmp_path / "b" / "chorales-001.mid").read_bytes() == (tmp_path / "a" / "chorales-001.mid").read_bytes()


def test_continuations_come_out_again_and_a_changed_primer_is_refused(tmp_path: Path) -> None:
    midi = _multitrack(tmp_path / "primer.mid")
    for name, primer in (("typed", "tinyNotation: 4/4 c4 d e f"), ("midi", str(midi))):
        out = tmp_path / f"{name}.mid"
        _ok(["continue", primer, "-m", "folk", "--bars", "1", "-o", str(out)])
        _ok(["generate", "--again", str(out.with_suffix(".json")), "-o", str(tmp_path / f"{name}-again.mid")])
        assert (tmp_path / f"{name}-again.mid").read_bytes() == out.read_bytes()
    assert read_record(tmp_path / "midi.json")["primer"]["kind"] == "midi"
    midi.write_bytes(midi.read_bytes() + b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00")  # another track: another file
    one_line_error(runner.invoke(app, ["generate", "--again", str(tmp_path / "midi.json"), "-o",
                                       str(tmp_path / "x.mid")]), "has changed since")


def test_bad_records_are_one_line_errors(tmp_path: Path) -> None:
    _ok(["generate", "-n", "1", "--bars", "1", "--best-of", "1", "--seed", "1", "-o", str(tmp_path)])
    rec = json.loads((tmp_path / "chorales-001.json").read_text())
    rec["model"]["sha256"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(rec))
    one_line_error(runner.invoke(app, ["generate", "--again", str(tmp_path / "other.json"), "-o", str(tmp_path / "o")]),
                   "is not the recorded one")
    plain = tmp_path / "plain.mid"
    plain.write_bytes(_multitrack(tmp_path / "p.mid").read_bytes())
    one_line_error(runner.invoke(app, ["generate", "--again", str(plain)]), "no composer record")
    (tmp_path / "junk.json").write_text("{}")
    one_line_error(runner.invoke(app, ["generate", "--again", str(tmp_path / "junk.json")]), "not a composer-record/1")


def test_the_record_marker_does_not_disturb_readers(tmp_path: Path) -> None:
    _ok(["generate", "-n", "1", "--bars", "2", "--best-of", "1", "--seed", "2", "-o", str(tmp_path)])
    doc = json.loads(_ok(["analyze", str(tmp_path / "chorales-001.mid"), "--json"]))
    assert doc["voices"]["count"] == 4


@pytest.mark.parametrize(("change", "must"), [
    (lambda r: r.pop("model"), "the record has no 'model'"),
    (lambda r: r["batch"].update(best_of=0), "batch.best_of must be"),
    (lambda r: r["batch"].update(index=5), "batch.index must be"),
    (lambda r: r["batch"].update(best_of=2, chosen=2), "batch.chosen must be"),
    (lambda r: r["options"].update(colour="red"), "bad record"),
    (lambda r: r.update(bars=10**9), "bars must be"),
])
def test_a_malformed_record_is_a_one_line_error(tmp_path: Path, change: Any, must: str) -> None:
    _ok(["generate", "-n", "1", "--bars", "1", "--best-of", "1", "--seed", "1", "-o", str(tmp_path)])
    rec = json.loads((tmp_path / "chorales-001.json").read_text())
    change(rec)
    (tmp_path / "bad.json").write_text(json.dumps(rec))
    one_line_error(runner.invoke(app, ["generate", "--again", str(tmp_path / "bad.json"), "-o", str(tmp_path / "o")]),
                   must)


def test_leftover_sidecars_are_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "chorales-001.json").write_text("mine")  # a record whose .mid was deleted
    _ok(["generate", "-n", "1", "--bars", "1", "--best-of", "1", "--seed", "1", "-o", str(tmp_path)])
    assert (tmp_path / "chorales-001.json").read_text() == "mine" and (tmp_path / "chorales-002.mid").is_file()
    (tmp_path / "c.json").write_text("mine")
    one_line_error(runner.invoke(app, ["continue", "C4 D4 E4", "-m", "folk", "-o", str(tmp_path / "c.mid")]),
                   "c.json exists")
    assert not (tmp_path / "c.mid").exists()


def test_a_piece_of_a_later_batch_replays_only_its_own_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import composer.generation.select as select

    monkeypatch.setattr(select, "MAX_BATCH", 4)  # -n 3 --best-of 2: batches of 2 pieces, then 1
    _ok(["generate", "-n", "3", "--bars", "1", "--best-of", "2", "--seed", "5", "-o", str(tmp_path / "a")])
    calls: list[int] = []
    real = select.sample_pieces
    monkeypatch.setattr(select, "sample_pieces", lambda *a, **k: calls.append(k["n"]) or real(*a, **k))
    _ok(["generate", "--again", str(tmp_path / "a" / "chorales-003.json"), "-o", str(tmp_path / "b")])
    assert calls == [2]  # one batch of 1 piece x 2 candidates, not the whole 6
    assert (tmp_path / "b" / "chorales-003.mid").read_bytes() == (tmp_path / "a" / "chorales-003.mid").read_bytes()


def test_a_replay_takes_the_recorded_candidate_whatever_the_analysis_says(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A later analysis that ranks the candidates otherwise (issue 13 keeps changing it) still replays."""
    import composer.generation.select as select

    _ok(["generate", "-n", "1", "--bars", "2", "--seed", "3", "-o", str(tmp_path / "a")])  # best of 4
    rec = read_record(tmp_path / "a" / "chorales-001.json")
    real = select.analyze_piece
    monkeypatch.setattr(select, "analyze_piece",
                        lambda p, style=None: (lambda a, s: (a, -s))(*real(p, style)))  # the ranking reversed
    _ok(["generate", "--again", str(tmp_path / "a" / "chorales-001.json"), "-o", str(tmp_path / "b")])
    assert (tmp_path / "b" / "chorales-001.mid").read_bytes() == (tmp_path / "a" / "chorales-001.mid").read_bytes()
    del rec["batch"]["chosen"]  # a record from before the choice was kept: chosen again, by the reversed ranking
    (tmp_path / "old.json").write_text(json.dumps(rec))
    result = runner.invoke(app, ["generate", "--again", str(tmp_path / "old.json"), "-o", str(tmp_path / "c.mid")])
    assert result.exit_code != 0 and "came out different" in result.output and not (tmp_path / "c.mid").exists()


def test_a_replay_that_comes_out_different_writes_nothing(tmp_path: Path) -> None:
    _ok(["generate", "-n", "1", "--bars", "1", "--best-of", "1", "--seed", "1", "-o", str(tmp_path)])
    rec = json.loads((tmp_path / "chorales-001.json").read_text())
    rec["notes_sha256"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(rec))
    one_line_error(runner.invoke(app, ["generate", "--again", str(tmp_path / "other.json"), "-o", str(tmp_path / "o")]),
                   "came out different")
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_again_writes_the_score_too_when_asked(tmp_path: Path) -> None:
    from music21 import converter

    a, b = tmp_path / "a", tmp_path / "b"
    _ok(["generate", "-n", "1", "--bars", "2", "--best-of", "1", "--seed", "3", "-o", str(a), "--musicxml"])
    _ok(["generate", "--again", str(a / "chorales-001.json"), "-o", str(b), "--musicxml"])

    def notes(path: Path) -> list[tuple[str, str, float]]:  # music21 writes fresh part ids and a date each time
        score = converter.parse(path)
        return [(p.partName, n.nameWithOctave, float(n.getOffsetInHierarchy(p))) for p in score.parts
                for n in p.recurse().notes]

    assert notes(b / "chorales-001.musicxml") == notes(a / "chorales-001.musicxml")


def test_a_record_from_before_typed_sampling_replays_the_plain_way() -> None:
    from composer.config import SampleOptions
    from composer.generation.record import request_of

    rec = {"batch": {"n": 1, "best_of": 1, "index": 0}, "model": {"ref": None, "sha256": "x"}, "file": "a.mid",
           "command": "generate", "bars": 2, "options": {"seed": 3}, "tempo": None, "program": None,
           "quantize": True, "voices": False}
    assert request_of(rec).options.typed is False  # sampled before the field existed
    assert request_of(rec | {"options": {"seed": 3, "typed": True}}).options.typed is True
    old = request_of(rec).options  # sampled before full chords and repeats as a kind: replayed without them
    assert old.full_chords is False and old.repeats is None and old.phrase_rests is None
    assert old.raised_penalty == 0.25 and old.seventh_penalty == 1.0
    assert old.four_pcs is None and old.degree_odds is None and old.motion_odds is None and old.motion_beats is False
    assert old.tune_ending is False  # a harmonization recorded before the tune ending replays without it
    assert old.phrase_ends is False and old.phrase_odds is None  # before phrase ends and the phrase odds: neither
    assert old.held_melody is False  # a many-voiced primer's melody read as before
    assert old.onset_odds is None and old.sixteenth_odds is None  # the rhythm within the beat at the model's odds
    assert SampleOptions().phrase_ends is True and SampleOptions().phrase_odds == 0.5  # what new records say
    new = request_of(rec | {"options": {"seed": 3, "full_chords": True, "repeats": 0.75}}).options
    assert new.full_chords is True and new.repeats == 0.75
    # motion odds set through the API before motion_beats: every note, the degrees at the table of then
    moved = request_of(rec | {"options": {"seed": 3, "motion_odds": 1.5, "degree_odds": 0.8}}).options
    assert moved.motion_beats is False and moved.motion_degrees is False



def test_rewinds_are_recorded_and_come_out_again(tmp_path: Path) -> None:
    """``--rewinds N`` (SampleOptions.phrase_rewinds): recorded, and a piece sampled with it comes out again byte for
    byte (its rewinds drawn again); a bad count is a one-line error."""
    first, again = tmp_path / "first", tmp_path / "again"
    _ok(["generate", "-n", "2", "--bars", "8", "--seed", "4", "--rewinds", "3", "-o", str(first)])
    rec = read_record(first / "chorales-002.json")
    assert rec["options"]["phrase_rewinds"] == 3
    _ok(["generate", "--again", str(first / "chorales-002.json"), "-o", str(again)])
    assert (again / "chorales-002.mid").read_bytes() == (first / "chorales-002.mid").read_bytes()
    _ok(["generate", "-n", "2", "--bars", "8", "--seed", "4", "-o", str(tmp_path / "plain")])
    assert (tmp_path / "plain" / "chorales-002.mid").read_bytes() != (first / "chorales-002.mid").read_bytes()
    result = runner.invoke(app, ["generate", "-n", "1", "--rewinds", "-1", "-o", str(tmp_path / "bad")])
    assert result.exit_code == 2
