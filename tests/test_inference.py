"""The numpy LSTM (composer.inference.ArrayLSTM) against torch's, and the torch-free live path."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from composer.config import ModelConfig, SampleOptions
from composer.errors import InputError
from composer.inference import ArrayLSTM
from composer.model import LSTMModel


def _weights(model: LSTMModel) -> dict[str, np.ndarray]:
    skip = {"head.weight"} if model.config.tie_weights else set()
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items() if k not in skip}


@pytest.mark.parametrize("config", [
    ModelConfig(vocab_size=50, embed_dim=16, hidden_size=24, num_layers=3, dropout=0.0),
    ModelConfig(vocab_size=40, embed_dim=32, hidden_size=32, num_layers=1, dropout=0.0, tie_weights=True),
])
def test_weight_shapes_are_what_the_torch_model_stores(config: ModelConfig) -> None:
    model = LSTMModel(config)
    assert config.weight_shapes() == {k: tuple(v.shape) for k, v in _weights(model).items()}


@pytest.mark.parametrize("tie", [False, True])
def test_the_numpy_lstm_computes_torchs_logits(tie: bool) -> None:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=60, embed_dim=32, hidden_size=32, num_layers=2, dropout=0.0, tie_weights=tie)
    model = LSTMModel(config).eval()
    for p in model.parameters():  # larger weights than the init's, so the gates saturate somewhere
        p.data.normal_(0, 0.4)
    arr = ArrayLSTM(_weights(model), config)
    rng = np.random.default_rng(1)
    prefixes = [rng.integers(0, 60, 7).tolist(), rng.integers(0, 60, 3).tolist()]
    got = arr.prime(prefixes)
    with torch.no_grad():
        want = [model(torch.tensor([p]))[0][0, -1].numpy() for p in prefixes]
        states = [model(torch.tensor([p]))[1] for p in prefixes]
    np.testing.assert_allclose(got, np.stack(want), atol=1e-5)
    tokens = np.array([5, 9])
    got = arr.step(tokens)
    with torch.no_grad():
        h = torch.cat([s[0] for s in states], 1)
        c = torch.cat([s[1] for s in states], 1)
        want2, _ = model(torch.from_numpy(tokens).view(2, 1), (h, c))
    np.testing.assert_allclose(got, want2[:, 0].numpy(), atol=1e-5)
    assert arr.fresh().state is None and arr.state is not None


def test_the_bundled_model_agrees_in_numpy_over_a_real_piece() -> None:
    from composer.generation import load_model

    ckpt = load_model(None)
    arr = ArrayLSTM(ckpt.arrays, ckpt.config)
    ids = ckpt.codec.prefix("bach-chorales-satb", None, None)
    model = ckpt.model
    with torch.no_grad():  # the torch model's own draws, fed to both
        seq = list(ids)
        logits, state = model(torch.tensor([seq]))
        for _ in range(200):
            seq.append(int(logits[0, -1].argmax()))
            logits, state = model(torch.tensor([[seq[-1]]]), state)
    got = arr.prime([seq[: len(ids)]])
    worst = 0.0
    with torch.no_grad():
        want, _ = model(torch.tensor([seq]))
    for t in range(len(ids), len(seq)):
        worst = max(worst, float(np.abs(got[0] - want[0, t - 1].numpy()).max()))
        got = arr.step(np.array([seq[t]]))
    assert worst < 1e-3


def test_an_unknown_engine_is_refused() -> None:
    from composer.generation import sample_pieces

    with pytest.raises(InputError, match="engine must be one of torch, numpy"):
        sample_pieces(None, n=1, bars=1, options=SampleOptions(seed=1), engine="jax")


@pytest.mark.slow
def test_the_numpy_engine_samples_reproducible_chorales() -> None:
    from composer.generation import sample_pieces

    a = sample_pieces(None, n=2, bars=2, options=SampleOptions(seed=4), engine="numpy")
    b = sample_pieces(None, n=2, bars=2, options=SampleOptions(seed=4), engine="numpy")
    assert [p.notes for p in a] == [p.notes for p in b]
    assert all(p.voices is not None and all(p.voices) for p in a), "four voices, each with notes"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["None", "'folk'"])
def test_the_live_stream_runs_without_torch(model: str) -> None:
    """The four-voice model's and the folk model's live streams (the folk's REMI decoded by MidiTok, whose torch
    datasets are left out) import no torch; MidiTok's torch part can still be imported after."""
    code = (
        "import sys\n"
        "from composer.config import SampleOptions\n"
        "from composer.generation import stream_notes\n"
        "from composer.live.sources import ENGINE\n"
        f"notes = list(stream_notes({model}, SampleOptions(seed=3), bars=2, engine=ENGINE))\n"
        "print(len(notes) > 4, 'torch' in sys.modules)\n"
        "import miditok.pytorch_data\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["True", "False"]
