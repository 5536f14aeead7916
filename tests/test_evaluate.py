"""Evaluation: Kneser-Ney baseline, evaluate() on a corpus split and a MIDI folder, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _corpus_fixtures import TINY, TinyCorpus, tiny_corpus, tiny_train_config
from helpers import one_line_error

from composer.checkpoint import save_checkpoint
from composer.config import TokenizerSpec
from composer.errors import CheckpointError, CorpusError, InputError
from composer.evaluate import KneserNey, baseline_nll, evaluate
from composer.model import LSTMModel, ModelConfig
from composer.tokenizer import Codec
from composer.train import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(_private_cache) -> TinyCorpus:  # type: ignore[no-untyped-def]
    return tiny_corpus()


@pytest.fixture(scope="module")
def ckpt(tiny: TinyCorpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval-run")
    train(tiny_train_config(out, epochs=3))
    return out / "model.safetensors"


# ---- Kneser-Ney --------------------------------------------------------------------------------
def _toy_seqs(rng: np.random.Generator, vocab: int = 12) -> list[np.ndarray]:
    seqs = [np.array([0, 1, 2, 3, 1, 2, 4, 1, 2, 3, 5]), np.array([0, 2, 3, 1, 2, 2, 3, 6])]
    seqs += [rng.integers(0, vocab - 2, size=30) for _ in range(4)]  # tokens 10, 11 never seen
    return seqs


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kneser_ney_sums_to_one(order: int) -> None:
    vocab = 12
    kn = KneserNey(order, vocab).fit(_toy_seqs(np.random.default_rng(0), vocab))
    contexts = [(), (1,), (1, 2), (0, 1, 2), (9, 9, 9), (11,), (2, 11), (3, 1, 2)]
    for ctx in contexts:
        ctx = ctx[len(ctx) - (order - 1):] if order > 1 else ()
        probs = [kn.prob(ctx, w) for w in range(vocab)]
        assert all(p > 0 for p in probs), (ctx, probs)  # never zero: uniform at the bottom
        assert sum(probs) == pytest.approx(1.0, abs=1e-6), ctx


def test_kneser_ney_unigram_is_discounted_counts_over_uniform() -> None:
    seqs = [np.array([0, 1, 1, 1, 2, 2, 3])]
    vocab, d = 6, 0.75
    kn = KneserNey(1, vocab, d).fit(seqs)
    counts = {1: 3, 2: 2, 3: 1}  # targets: every token after the first
    n, types = 6, 3
    for w in range(vocab):
        expected = max(counts.get(w, 0) - d, 0) / n + d * types / n / vocab
        assert kn.prob((), w) == pytest.approx(expected)


def test_kneser_ney_lower_order_uses_continuation_counts() -> None:
    # "b" follows only "a" (4 times); "c" follows three different tokens (once each).
    a, b, c, x, y = 0, 1, 2, 3, 4
    seqs = [np.array([a, b, a, b, a, b, a, b, x, c, y, c, a, c])]
    kn = KneserNey(2, 5).fit(seqs)
    # The unigram level holds how many distinct tokens precede each token.
    assert kn.counts[1][()] == {b: 1, a: 2, x: 1, c: 3, y: 1}  # a after b and after c
    # So after an unseen context, c (3 left contexts) beats b (more frequent, 1 left context).
    unseen = (9,)
    assert kn.prob(unseen, c) > kn.prob(unseen, b)


def test_kneser_ney_rejects_order_zero() -> None:
    with pytest.raises(ValueError, match="order"):
        KneserNey(0, 5)


def test_baseline_nll_counts_targets_after_prefix() -> None:
    train_seqs = [np.array([0, 5, 1, 2, 3, 1, 2, 3, 4])]
    test = [(np.array([0, 5, 1, 2, 3, 4]), 2), (np.array([0, 5, 3, 3]), 2)]
    res = baseline_nll(train_seqs, test, vocab_size=6, order=3)
    assert set(res) == {"unigram", "3-gram KN"}
    assert res["unigram"][1] == res["3-gram KN"][1] == 4 + 2
    assert all(math.isfinite(v) and v > 0 for v, _ in res.values())
    assert res["3-gram KN"][0] < res["unigram"][0]  # context helps on this data


# ---- evaluate() --------------------------------------------------------------------------------
def _check_report(report: dict[str, Any], order: int = 4) -> None:
    names = [r["model"] for r in report["models"]]
    assert names[0].startswith("LSTM (") and names[1:] == ["unigram", f"{order}-gram KN"]
    assert report["tokens"] > 0 and report["pieces"] > 0 and report["notes"] > 0
    for row in report["models"]:
        for k in ("nll_per_token", "perplexity", "nll_per_note", "nll_per_quarter", "nll_total"):
            assert math.isfinite(row[k]) and row[k] > 0, (row["model"], k)
        assert row["perplexity"] == pytest.approx(math.exp(row["nll_per_token"]))
        assert row["nll_per_token"] == pytest.approx(row["nll_total"] / report["tokens"])
        assert row["nll_per_note"] == pytest.approx(row["nll_total"] / report["notes"])
        assert row["nll_per_quarter"] == pytest.approx(row["nll_total"] / report["beats"])


def test_evaluate_on_corpus_split(tiny: TinyCorpus, ckpt: Path) -> None:
    report = evaluate(str(ckpt), TINY)
    _check_report(report)
    test = [p for p in tiny.manifest["pieces"] if p["split"] == "test"]
    assert report["data"] == f"{TINY}/test" and report["pieces"] == len(test)
    assert report["tokens"] == sum(p["tokens"] + 1 for p in test)  # music + EOS
    assert report["notes"] == sum(p["notes"] for p in test)
    assert report["baseline_corpus"] == TINY and report["ngram_order"] == 4
    lstm, uni, _ = report["models"]
    assert lstm["nll_per_token"] < math.log(Codec.from_dict(tiny.manifest["tokenizer"]).vocab_size)
    # Another split and order.
    valid = evaluate(str(ckpt), TINY, split="valid", order=2)
    _check_report(valid, order=2)
    assert valid["data"] == f"{TINY}/valid"


def test_evaluate_on_a_midi_folder(tiny: TinyCorpus, ckpt: Path, tmp_path: Path) -> None:
    folder = tmp_path / "some-midi"
    folder.mkdir()
    for src in sorted(tiny.midi_dir.glob("*.mid"))[:3]:
        (folder / src.name).write_bytes(src.read_bytes())
    (folder / "broken.mid").write_bytes(b"MThd nonsense")
    report = evaluate(str(ckpt), str(folder))
    _check_report(report)
    assert report["pieces"] == 3 and report["skipped"] == 1 and report["data"] == str(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no readable MIDI"):
        evaluate(str(ckpt), str(empty))


def test_evaluate_refuses_a_different_tokenizer(tiny: TinyCorpus, tmp_path: Path) -> None:
    other = Codec(TokenizerSpec(use_velocities=False, use_tempos=False), styles=[TINY])
    model = LSTMModel(ModelConfig(vocab_size=other.vocab_size, embed_dim=8, hidden_size=8))
    path = save_checkpoint(tmp_path / "other.safetensors", model, other, {"corpus": TINY})
    with pytest.raises(CheckpointError, match="use_velocities"):
        evaluate(str(path), TINY)


def test_evaluate_needs_the_baseline_corpus(tiny: TinyCorpus, ckpt: Path) -> None:
    with pytest.raises(CorpusError, match="composer corpus build nowhere"):
        evaluate(str(ckpt), TINY, baseline_corpus="nowhere")


# ---- CLI ---------------------------------------------------------------------------------------
def _invoke(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from composer.cli import app

    return CliRunner().invoke(app, args)


def test_cli_evaluate_json(tiny: TinyCorpus, ckpt: Path) -> None:
    r = _invoke(["evaluate", str(ckpt), TINY, "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    _check_report(report)
    assert report == json.loads(json.dumps(evaluate(str(ckpt), TINY)))


def test_cli_evaluate_table(tiny: TinyCorpus, ckpt: Path) -> None:
    r = _invoke(["evaluate", str(ckpt), TINY, "--ngram", "3"])
    assert r.exit_code == 0, r.output
    assert "unigram" in r.stdout and "3-gram KN" in r.stdout and "perplexity" in r.stdout


@pytest.mark.parametrize("args, match", [
    (["--split", "dev"], "--split"),
    (["--ngram", "0"], "--ngram"),
])
def test_cli_evaluate_bad_options(tiny: TinyCorpus, ckpt: Path, args: list[str], match: str) -> None:
    r = _invoke(["evaluate", str(ckpt), TINY, *args])
    one_line_error(r, match)


def test_cli_evaluate_bad_checkpoints(tiny: TinyCorpus, tmp_path: Path) -> None:
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"\x80\x04pickle")
    r = _invoke(["evaluate", str(pt), TINY])
    one_line_error(r, "pickle")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    r = _invoke(["evaluate", str(junk), TINY])
    one_line_error(r, str(junk))


def test_evaluate_midi_folder_with_a_tsd_checkpoint(tiny: TinyCorpus, tmp_path: Path) -> None:
    tsd = Codec(TokenizerSpec(kind="TSD"), styles=[TINY])
    model = LSTMModel(ModelConfig(vocab_size=tsd.vocab_size, embed_dim=8, hidden_size=8))
    path = save_checkpoint(tmp_path / "tsd.safetensors", model, tsd, {"corpus": TINY})
    # The baseline corpus (tiny, REMI) does not match: a clear CheckpointError, not a KeyError.
    with pytest.raises(CheckpointError):
        evaluate(str(path), str(tiny.midi_dir))
