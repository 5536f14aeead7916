"""The LSTM language model over token ids, and the device it runs on."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from composer.errors import InputError

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (L, B, H)


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
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {self.vocab_size}")
        if self.embed_dim < 1 or self.hidden_size < 1:
            raise ValueError("embed_dim and hidden_size must be >= 1")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.tie_weights and self.embed_dim != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embed_dim == hidden_size, got {self.embed_dim} and {self.hidden_size}"
            )

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
