"""LSTMModel and ModelConfig: shapes, state carrying, weight tying, validation."""

from __future__ import annotations

import pytest
import torch

from composer.model import LSTMModel, ModelConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

V, E, H, L = 50, 16, 32, 2


@pytest.fixture
def model() -> LSTMModel:
    torch.manual_seed(0)
    return LSTMModel(ModelConfig(vocab_size=V, embed_dim=E, hidden_size=H, num_layers=L, dropout=0.1))


def test_forward_shapes(model: LSTMModel) -> None:
    ids = torch.randint(0, V, (3, 7))
    logits, (h, c) = model(ids)
    assert logits.shape == (3, 7, V)
    assert h.shape == (L, 3, H) and c.shape == (L, 3, H)
    assert logits.dtype == torch.float32


def test_single_layer_has_no_inter_layer_dropout() -> None:
    m = LSTMModel(ModelConfig(vocab_size=V, embed_dim=E, hidden_size=H, num_layers=1, dropout=0.5))
    assert m.lstm.dropout == 0.0  # torch warns if dropout is set on a 1-layer LSTM
    logits, (h, _) = m(torch.zeros(2, 4, dtype=torch.long))
    assert logits.shape == (2, 4, V) and h.shape == (1, 2, H)


def test_state_carries_token_by_token(model: LSTMModel) -> None:
    model.eval()
    ids = torch.randint(0, V, (2, 12))
    with torch.no_grad():
        whole, (h_all, c_all) = model(ids)
        state = None
        steps = []
        for t in range(ids.shape[1]):
            logit, state = model(ids[:, t : t + 1], state)
            steps.append(logit)
    stepped = torch.cat(steps, dim=1)
    torch.testing.assert_close(stepped, whole, atol=1e-5, rtol=1e-5)
    assert state is not None
    torch.testing.assert_close(state[0], h_all, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(state[1], c_all, atol=1e-6, rtol=1e-5)


def test_state_split_in_chunks_matches_whole(model: LSTMModel) -> None:
    model.eval()
    ids = torch.randint(0, V, (1, 20))
    with torch.no_grad():
        whole, _ = model(ids)
        a, st = model(ids[:, :9])
        b, _ = model(ids[:, 9:], st)
    torch.testing.assert_close(torch.cat([a, b], dim=1), whole, atol=1e-5, rtol=1e-5)


def test_zero_state_equals_no_state(model: LSTMModel) -> None:
    model.eval()
    ids = torch.randint(0, V, (2, 5))
    zeros = (torch.zeros(L, 2, H), torch.zeros(L, 2, H))
    with torch.no_grad():
        torch.testing.assert_close(model(ids)[0], model(ids, zeros)[0])


def test_eval_is_deterministic_train_uses_dropout(model: LSTMModel) -> None:
    ids = torch.randint(0, V, (2, 6))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(ids)[0], model(ids)[0])
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(ids)[0], model(ids)[0])


def test_weight_tying_shares_the_tensor() -> None:
    m = LSTMModel(ModelConfig(vocab_size=V, embed_dim=H, hidden_size=H, num_layers=1, tie_weights=True))
    assert m.head.weight is m.embed.weight
    assert m.head.weight.data_ptr() == m.embed.weight.data_ptr()
    untied = LSTMModel(ModelConfig(vocab_size=V, embed_dim=H, hidden_size=H, num_layers=1))
    assert m.num_parameters() == untied.num_parameters() - V * H
    # A gradient step on the head moves the embedding too.
    logits, _ = m(torch.tensor([[1, 2, 3]]))
    logits.sum().backward()
    assert m.embed.weight.grad is not None
    before = m.embed.weight.detach().clone()
    with torch.no_grad():
        m.head.weight.add_(1.0)
    assert torch.equal(m.embed.weight, before + 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(vocab_size=1), "vocab_size"),
        (dict(embed_dim=0), "embed_dim"),
        (dict(hidden_size=0), "hidden_size"),
        (dict(num_layers=0), "num_layers"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
        (dict(tie_weights=True, embed_dim=16, hidden_size=32), "tie_weights"),
    ],
)
def test_config_validation(kwargs: dict, match: str) -> None:
    full = dict(vocab_size=V, embed_dim=E, hidden_size=H) | kwargs
    with pytest.raises(ValueError, match=match):
        ModelConfig(**full)


def test_config_is_json_native_and_frozen() -> None:
    import dataclasses
    import json

    cfg = ModelConfig(vocab_size=V, embed_dim=E, hidden_size=H)
    assert ModelConfig(**json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hidden_size = 7  # type: ignore[misc]


def test_num_parameters_counts_every_parameter(model: LSTMModel) -> None:
    lstm = sum(4 * H * (i + H + 2) for i in (E,) + (H,) * (L - 1))  # W_ih, W_hh, two biases
    assert model.num_parameters() == V * E + lstm + H * V + V
