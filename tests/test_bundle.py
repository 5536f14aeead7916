"""Exporting a run as a model: ``bundle.export_model`` and ``composer export``, then generating from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from _corpus_fixtures import TINY, tiny_corpus, tiny_train_config
from helpers import one_line_error
from typer.testing import CliRunner

from composer.bundle import export_model
from composer.checkpoint import WEIGHTS, load_checkpoint, read_checkpoint
from composer.cli import app
from composer.errors import OutputError
from composer.evaluate import evaluate
from composer.midifile import load_score
from composer.train import train

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.slow]  # trains and exports a tiny model
METRICS = ("nll_per_token", "perplexity", "nll_per_note", "nll_per_quarter")
WIDE = {"COLUMNS": "200", "NO_COLOR": "1"}  # rich output unwrapped, no colour codes


@pytest.fixture(scope="module")
def run(_private_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny training run on the tiny corpus (two epochs, about a second of CPU)."""
    tiny_corpus()
    out = tmp_path_factory.mktemp("run")
    train(tiny_train_config(out, epochs=2))
    return out


@pytest.fixture(scope="module")
def exported(run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``composer export`` of the run, with a name, a description, a program and a tempo."""
    out = tmp_path_factory.mktemp("models") / "tiny-model"
    args = ["export", str(run), "-o", str(out), "--description", "A test model.", "--program", "5",
            "--tempo", "90"]
    r = CliRunner().invoke(app, args, env=WIDE)
    assert r.exit_code == 0, r.output
    return {"out": out, "args": args, "stdout": r.stdout}


def _weights(path: Path) -> dict[str, torch.Tensor]:
    tensors, _ = read_checkpoint(path)
    return tensors


def test_export_writes_weights_only_and_the_card(run: Path, exported: dict[str, Any]) -> None:
    out = exported["out"]
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "card.md", WEIGHTS]
    assert f"exported tiny-model to {out}" in exported["stdout"]

    # Weights only: the run's best weights, none of last.safetensors' optimizer or RNG state.
    mine, best = _weights(out / WEIGHTS), _weights(run / WEIGHTS)
    assert mine.keys() == best.keys() and not [k for k in mine if k.startswith(("optim/", "rng/"))]
    assert all(torch.equal(mine[k], best[k]) for k in mine)
    ckpt = load_checkpoint(out)  # a folder names its model.safetensors
    assert ckpt.name == "tiny-model" and ckpt.meta["corpus"] == TINY
    assert not {"train_state", "optim", "sched", "plateau"} & set(ckpt.meta)
    assert ckpt.meta["default_program"] == 5 and ckpt.meta["default_tempo"] == 90.0
    assert ckpt.meta["description"] == "A test model."

    # The test metrics: the same figures `composer evaluate` gives for the run's model.
    card = json.loads((out / "card.json").read_text())
    report = json.loads(json.dumps(evaluate(str(run / WEIGHTS), TINY, split="test")))
    assert card["test"]["models"] == report["models"]
    lstm, uni, ngram = report["models"]
    assert ckpt.meta["test_metrics"] == {k: lstm[k] for k in METRICS}
    assert ckpt.meta["baseline_metrics"] == {"unigram": uni, "ngram": ngram}
    assert card["test"]["tokens"] == report["tokens"] and card["test"]["pieces"] == report["pieces"]
    assert card["name"] == "tiny-model" and card["corpus"] == TINY and card["default_program"] == 5
    assert card["params"] == ckpt.model.num_parameters() and card["model"] == ckpt.model.config.to_dict()
    assert card["best"] == load_checkpoint(run).meta["best_metrics"]

    md = (out / "card.md").read_text()
    assert md.startswith("# Model card: `tiny-model`") and "A test model." in md
    for row in card["test"]["models"]:
        assert f"| {row['model']} | {row['nll_per_token']:.4f} | {row['perplexity']:.2f} |" in md
    # a user's model: -m takes its folder (not in the models folder, so not its name); no word of this repository's
    # examples or benchmarks; the tokens per split as figures, not a Python dict
    assert f"`composer generate -m {out} -n 4" in md and "examples/" not in md and "RESULTS.md" not in md
    assert "tokens per split {" not in md and "tokens per split train " in md


def test_export_again_needs_force(run: Path, exported: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(exported["out"], out)
    args = ["export", str(run), "-o", str(out)]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = CliRunner().invoke(app, args)
    one_line_error(r, str(out / WEIGHTS), "--force")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched

    r = CliRunner().invoke(app, [*args, "--description", "Replaced.", "--force"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "card.json").read_text())["description"] == "Replaced."
    ckpt = load_checkpoint(out)
    assert ckpt.meta["description"] == "Replaced." and ckpt.meta["default_program"] == 0  # this export's options
    best = _weights(run / WEIGHTS)
    assert all(torch.equal(v, best[k]) for k, v in _weights(out / WEIGHTS).items())


def test_export_model_library_call(run: Path, tmp_path: Path) -> None:
    card = export_model(run, tmp_path / "lib", ngram=2)
    assert card["name"] == "lib" and card["test"]["models"][2]["model"] == "2-gram KN"
    assert card["default_tempo"] == load_checkpoint(run).meta["default_tempo"]  # the corpus median
    with pytest.raises(OutputError, match="exists"):
        export_model(run, tmp_path / "lib")


def test_export_bad_program_is_refused(run: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["export", str(run), "-o", str(tmp_path / "m"), "--program", "200"])
    one_line_error(r, "--program")
    assert not (tmp_path / "m").exists()


def _generate(model: Path, out: Path) -> Any:
    return CliRunner().invoke(app, ["generate", "-m", str(model), "-n", "1", "--bars", "2", "--seed", "0",
                                    "-o", str(out)], env=WIDE)


def test_the_exported_model_generates(exported: dict[str, Any], tmp_path: Path) -> None:
    r = _generate(exported["out"], tmp_path)
    assert r.exit_code == 0, r.output
    (midi,) = sorted(tmp_path.glob("*.mid"))
    assert midi.name == "tiny-model-001.mid" and midi.name in r.stdout
    load_score(midi)  # a whole, readable MIDI file


def test_the_exported_model_writes_notes_with_its_program(exported: dict[str, Any], tmp_path: Path) -> None:
    # A --from-dir corpus has Velocity tokens: Pitch, Velocity, Duration must make a note (it once
    # sampled Velocity after Velocity to the token limit and wrote no note).
    assert _generate(exported["out"], tmp_path).exit_code == 0
    (midi,) = sorted(tmp_path.glob("*.mid"))
    score = load_score(midi)
    assert score.tracks and score.tracks[0].notes and score.tracks[0].program == 5  # the card's program
