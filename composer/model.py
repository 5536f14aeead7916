"""The LSTM language model over token ids, and the device it runs on."""

from __future__ import annotations

import re

import torch
from torch import nn

from composer.config import MAX_LAYERS, MAX_PARAMS, MAX_WIDTH, ModelConfig
from composer.errors import InputError

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (L, B, H)

__all__ = ["MAX_LAYERS", "MAX_PARAMS", "MAX_WIDTH", "LSTMModel", "ModelConfig", "State", "resolve_device"]

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
