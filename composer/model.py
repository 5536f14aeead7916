"""The LSTM language model over token ids, and the device it runs on."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from torch import nn

from composer import voicemotion
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
        # the voices' last intervals (config.motion_input): a table added to each voice token's embedding,
        # indexed by composer.voicemotion's classes, which the codec's voice tables give (set_voice_tables)
        self.motion: nn.Embedding | None = None
        self.voice_tables: tuple[np.ndarray, np.ndarray] | None = None
        if config.motion_input:
            self.motion = nn.Embedding(voicemotion.CLASSES, config.embed_dim, padding_idx=0)
            nn.init.normal_(self.motion.weight, std=0.05)
            with torch.no_grad():
                self.motion.weight[0].zero_()

    def set_voice_tables(self, codec: Any) -> None:
        """Read each token id's voice kind and pitch from ``codec`` (an SATB grid codec).

        A motion-input model needs them to compute its input; other models ignore them.
        """
        if self.motion is not None:
            self.voice_tables = voicemotion.voice_tables(codec.types, codec.pitch_of)

    def motion_classes(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) classes of (B, T) ids, each row read from a fresh start (:func:`voicemotion.motion_classes`)."""
        if self.voice_tables is None:
            raise RuntimeError("a motion-input model needs set_voice_tables(codec) before it runs")
        return torch.from_numpy(voicemotion.motion_classes(ids.cpu().numpy(), *self.voice_tables)).to(ids.device)

    def inputs(self, ids: torch.Tensor, motion: torch.Tensor | None = None) -> torch.Tensor:
        """The LSTM's inputs: the tokens' embeddings, plus a motion-input model's motion rows.

        ``motion`` is (B, T) classes; when not given they are computed from ``ids``, read from their start.
        """
        x = self.embed(ids)
        if self.motion is not None:
            x = x + self.motion(self.motion_classes(ids) if motion is None else motion)
        return x

    def forward(
        self, ids: torch.Tensor, state: State | None = None, motion: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        """Logits of the next token at every position.

        Parameters
        ----------
        ids : torch.Tensor
            (B, T) int64 token ids.
        state : (h, c), optional
            Each (L, B, H); ``None`` starts from zeros.
        motion : torch.Tensor, optional
            (B, T) motion classes of a motion-input model; without them they are read from ``ids``,
            which must then start their streams (``state`` None).

        Returns
        -------
        logits : torch.Tensor
            (B, T, V).
        state : (h, c)
            The state after the last position.
        """
        if self.motion is not None and motion is None and state is not None:
            raise ValueError("a motion-input model continuing a stream needs the motion classes of its ids")
        x = self.inputs(ids, motion)  # (B, T, E)
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
