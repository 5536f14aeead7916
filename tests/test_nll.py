"""sequence_nll: what it scores, batching, and the model's training flag."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _corpus_fixtures import TINY, TinyCorpus, tiny_corpus

from composer.corpus import load_corpus
from composer.dataset import load_pieces, scored_sequences
from composer.model import LSTMModel, ModelConfig
from composer.nll import sequence_nll

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny(_private_cache) -> TinyCorpus:  # type: ignore[no-untyped-def]
    return tiny_corpus()


def test_sequence_nll_scores_music_and_eos_only(tiny: TinyCorpus) -> None:
    corpus = load_corpus(TINY)
    pieces = load_pieces(corpus, "test")
    seqs = scored_sequences(corpus.codec, pieces)
    assert [plen for _, plen in seqs] == [len(corpus.codec.prefix(p.style, p.key_index, p.tempo)) for p in pieces]
    torch.manual_seed(0)
    model = LSTMModel(ModelConfig(vocab_size=corpus.codec.vocab_size, embed_dim=8, hidden_size=8))
    total, count = sequence_nll(model, seqs, corpus.codec.pad, CPU, batch=2)
    assert count == sum(len(p.ids) + 1 for p in pieces)
    one = sum(sequence_nll(model, [s], corpus.codec.pad, CPU)[0] for s in seqs)
    assert total == pytest.approx(one, rel=1e-5)  # padding in a batch changes nothing
    assert model.training  # restored


def test_sequence_nll_skips_the_given_prefix() -> None:
    torch.manual_seed(0)
    model = LSTMModel(ModelConfig(vocab_size=6, embed_dim=4, hidden_size=4)).eval()
    seq = np.array([1, 2, 3, 4, 5, 3, 2], dtype=np.int64)
    whole, n_whole = sequence_nll(model, [(seq, 1)], pad=0, device=CPU)
    tail, n_tail = sequence_nll(model, [(seq, 3)], pad=0, device=CPU)
    assert (n_whole, n_tail) == (6, 4)
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.from_numpy(seq[None, :-1]))[0][0], -1)  # (T-1, V)
    per_token = [-float(logp[t - 1, seq[t]]) for t in range(1, len(seq))]
    assert whole == pytest.approx(sum(per_token), rel=1e-5)
    assert tail == pytest.approx(sum(per_token[2:]), rel=1e-5)
    assert not model.training  # restored
