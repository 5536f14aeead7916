"""The LSTM language model over token ids, and the device it runs on."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from composer.config import check_bool, check_int
from composer.errors import InputError

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (L, B, H)

#: Model size limits, checked before anything is allocated.  The bundled models have 1.1 M and 1.6 M
#: parameters (4-6 MB in float32); 200 M parameters is 800 MB of weights, about what a laptop can
#: still sample from, while ``hidden_size`` 10**7 in a crafted checkpoint asked for 1.6 PB (issue 14).
MAX_PARAMS = 200_000_000
MAX_WIDTH = 65_536  # vocab_size, embed_dim, hidden_size
MAX_LAYERS = 64


@dataclass(frozen=True)
class ModelConfig:
    """Shape of an :class:`LSTMModel`."""

    vocab_size: int  # number of token ids (MidiTok vocabulary + control tokens)
    embed_dim: int = 256  # embedding width
    hidden_size: int = 512  # LSTM width
    num_layers: int = 2  # stacked LSTM layers, >= 1
    dropout: float = 0.2  # between layers and before the head, [0, 1)
    tie_weights: bool = False  # share input and output embeddings (needs embed_dim == hidden_size)

    def __post_init__(self) -> None:
        check_int("vocab_size", self.vocab_size, 2, MAX_WIDTH)
        check_int("embed_dim", self.embed_dim, 1, MAX_WIDTH)
        check_int("hidden_size", self.hidden_size, 1, MAX_WIDTH)
        check_int("num_layers", self.num_layers, 1, MAX_LAYERS)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        check_bool("tie_weights", self.tie_weights)
        if self.num_params() > MAX_PARAMS:
            raise ValueError(f"model has {self.num_params():,} parameters, over the limit of {MAX_PARAMS:,}")
        if self.tie_weights and self.embed_dim != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embed_dim == hidden_size, got {self.embed_dim} and {self.hidden_size}"
            )

    def num_params(self) -> int:
        """Parameters an :class:`LSTMModel` of this shape has (computed, nothing allocated)."""
        e, h, v = self.embed_dim, self.hidden_size, self.vocab_size
        lstm = sum(4 * h * ((e if i == 0 else h) + h) + 8 * h for i in range(self.num_layers))
        return v * e + lstm + (0 if self.tie_weights else h * v) + v

    def to_dict(self) -> dict[str, Any]:
        """JSON-native copy."""
        return asdict(self)


class LSTMModel(nn.Module):
    """Embedding -> multi-layer LSTM -> linear head.

    ``forward(ids, state) -> (logits, state)`` serves training (whole windows),
    whole-piece sampling and token-by-token streaming alike.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        self.lstm = nn.LSTM(
            config.embed_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.head.weight = self.embed.weight
        nn.init.normal_(self.embed.weight, std=0.05)

    def forward(
        self, ids: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Logits of the next token at every position.

        Parameters
        ----------
        ids : torch.Tensor
            (B, T) int64 token ids.
        state : (h, c), optional
            Each (L, B, H); ``None`` starts from zeros.

        Returns
        -------
        logits : torch.Tensor
            (B, T, V).
        state : (h, c)
            The state after the last position.
        """
        x = self.embed(ids)  # (B, T, E)
        y, state = self.lstm(x, state)  # (B, T, H)
        return self.head(self.drop(y)), state  # (B, T, V)

    def num_parameters(self) -> int:
        """Number of distinct parameters."""
        return sum(p.numel() for p in self.parameters())


def resolve_device(name: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an unknown or unavailable device is an ``InputError``."""
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name):
        raise InputError(f"device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device cuda requested but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("device mps requested but MPS is not available")
    return torch.device(name)
