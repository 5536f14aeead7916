"""Issue 12: generation records, and ``composer generate --again`` writing a file again byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert rec["batch"] == {"n": 3, "best_of": 4, "index": 1} and rec["options"]["seed"] == 7
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
