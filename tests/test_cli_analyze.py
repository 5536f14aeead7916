"""``composer analyze`` on several files: a bad one is said, the others are still analyzed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from composer.cli import app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_several_files_with_a_bad_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"x")
    good = [EXAMPLES / "chorales" / "chorales-001.mid", EXAMPLES / "folk" / "folk-001.mid"]
    result = CliRunner().invoke(app, ["analyze", str(good[0]), str(bad), str(good[1]), "--json"])
    assert result.exit_code == 2
    docs = json.loads(result.stdout)
    assert [Path(d["source"]).name for d in docs] == ["chorales-001.mid", "folk-001.mid"]
    assert result.stderr.strip().splitlines() == [f"error: {bad}: not a MIDI file (no MThd header)"]
