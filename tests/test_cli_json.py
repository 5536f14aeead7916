"""Issue 12: ``--json`` on every reporting command, and the training metrics log.

Each command's JSON must parse, name full paths, and agree with what was written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _corpus_fixtures import TINY, TinyCorpus, tiny_corpus, tiny_train_config
from typer.testing import CliRunner

from composer.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(_private_cache) -> TinyCorpus:  # type: ignore[no-untyped-def]
    return tiny_corpus()


def _json(args: list[str]) -> Any:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_generate_json_names_every_file(tmp_path: Path) -> None:
    docs = _json(["generate", "-n", "2", "--bars", "2", "--seed", "3", "--best-of", "1", "-o", str(tmp_path),
                  "--json"])
    assert [Path(d["path"]).name for d in docs] == ["chorales-001.mid", "chorales-002.mid"]
    for d in docs:
        assert Path(d["path"]).is_absolute() and Path(d["path"]).is_file()
        assert d["bars"] == 2 and d["tracks"] == 4 and d["time_signature"] == "4/4" and d["notes"] > 0
        assert d["candidate_scores"] is None  # nothing was chosen
    chosen = _json(["generate", "-n", "1", "--bars", "2", "--seed", "3", "-o", str(tmp_path), "--json"])
    assert len(chosen[0]["candidate_scores"]) == 4  # the four-voice default: best of 4


def test_generate_many_files_summarized_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "-n", "6", "--bars", "1", "--seed", "3", "--best-of", "1",
                                 "-m", "folk", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"wrote 6 files in {tmp_path}: folk-001.mid to folk-006.mid" in " ".join(result.stdout.split())
    assert sorted(p.name for p in tmp_path.glob("*.mid")) == [f"folk-00{i}.mid" for i in range(1, 7)]


def test_continue_json_says_what_became_of_the_primer(tmp_path: Path) -> None:
    out = tmp_path / "c.mid"
    doc = _json(["continue", "tinyNotation: 4/4 c4 d e f", "-m", "folk", "--bars", "1", "--seed", "1",
                 "-o", str(out), "--json"])
    assert doc["path"] == str(out.resolve()) and out.is_file()
    assert doc["primer"] == "primer: 1 bar(s), 4 notes, kept unchanged at the start"


def test_models_ports_and_corpus_list_json(tiny: TinyCorpus) -> None:
    models = _json(["models", "--json"])
    assert {"chorales", "folk"} <= {m["name"] for m in models}
    ports = _json(["ports", "--json"])
    assert set(ports) == {"ports", "unavailable"} and isinstance(ports["ports"], list)
    corpora = {c["corpus"]: c for c in _json(["corpus", "list", "--json"])}
    assert corpora["bach-chorales"]["bundled"] and corpora[TINY]["built"] and corpora[TINY]["pieces"] > 0


def test_train_json_and_the_metrics_log(tiny: TinyCorpus, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = tiny_train_config(out, max_steps=6)
    args = ["train", TINY, "-o", str(out), "--max-steps", "6", "--seq-len", str(cfg.seq_len), "--batch-size",
            str(cfg.batch_size), "--embed-dim", "16", "--hidden-size", "32", "--threads", "1", "--json"]
    result = _json(args)
    assert result["steps"] == 6 and result["best_model"] == str(out / "model.safetensors")
    def strict(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    events = [json.loads(line, parse_constant=strict) for line in (out / "metrics.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("step") == 6
    step = next(e for e in events if e["event"] == "step")
    assert {"step", "loss", "lr", "tokens_per_s", "time"} <= set(step)
    assert any(e["event"] == "epoch" and e["val_loss"] > 0 for e in events)


def test_train_warns_when_there_is_no_validation_split(tiny: TinyCorpus, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import composer.train as train_mod

    real = train_mod.load_pieces
    monkeypatch.setattr(train_mod, "load_pieces", lambda corpus, split: [] if split == "valid" else real(corpus, split))
    events: list[dict[str, Any]] = []
    train_mod.train(tiny_train_config(tmp_path / "nv", max_steps=2), callback=events.append)
    warning = next(e for e in events if e["event"] == "warning")
    assert "no validation pieces" in warning["message"] and "training pieces" in warning["message"]


def test_cache_dir_names_the_cache_root_on_every_command(tiny: TinyCorpus, tmp_path: Path) -> None:
    """``--cache-dir`` means what ``$COMPOSER_CACHE_DIR`` means (corpora in CACHE/corpora), on corpus
    commands, train, evaluate and models alike, and only for that command."""
    import os

    from helpers import one_line_error

    session = os.environ["COMPOSER_CACHE_DIR"]
    empty = tmp_path / "empty-cache"
    built = {c["corpus"]: c["built"] for c in _json(["corpus", "list", "--cache-dir", session, "--json"])}
    assert built[TINY]
    built = {c["corpus"]: c["built"] for c in _json(["corpus", "list", "--cache-dir", str(empty), "--json"])}
    assert TINY not in built
    one_line_error(runner.invoke(app, ["train", TINY, "-o", str(tmp_path / "r"), "--cache-dir", str(empty)]),
                   "not built")
    one_line_error(runner.invoke(app, ["evaluate", "folk", TINY, "--cache-dir", str(empty)]), "not built")
    assert isinstance(_json(["models", "--cache-dir", str(empty), "--json"]), list)
    assert os.environ["COMPOSER_CACHE_DIR"] == session  # restored after each command
