"""The torch engine's model, one token at a time: :class:`Stepper` and the int8 copy it runs (:func:`quantize_model`).

:func:`~composer.generation.sampler.sample_streams` calls :meth:`Stepper.prime` once and :meth:`Stepper.step` per
token; numpy in and out, like :class:`composer.inference.ArrayLSTM` (the torch-free engine).
"""

from __future__ import annotations

import copy
import warnings
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from composer.voicemotion import MotionTracker

if TYPE_CHECKING:
    import torch

#: Each model's compiled step (:func:`_scripted_step`), compiled once: a sampling run makes a fresh :class:`Stepper`
_SCRIPTED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class Stepper:
    """Runs the torch model one token at a time, for a batch, keeping the LSTM state.

    Uses the model as given (an :class:`~composer.model.LSTMModel`: its ``embed``, ``lstm`` and
    ``head``): fp32, or an int8 copy from :func:`quantize_model`; each step is one embedding
    lookup, one ``nn.LSTM`` call and one head matmul.  Tokens in and logits out are numpy arrays.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        import torch

        self._torch = torch
        self.model = model
        self.model.eval()
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None
        # a motion-input model (ModelConfig.motion_input) reads each voice's last interval beside the tokens
        self._motion: Any = getattr(model, "motion", None)
        self._tracker: MotionTracker | None = None
        # the three layers of a step as one TorchScript call (the same ops on the same weights, so the same
        # numbers): the Python calls in between (argument parsing, dispatch) cost a third of a step at batch 1
        self.scripted: Any = None
        if self._motion is None:
            if model not in _SCRIPTED:
                _SCRIPTED[model] = _scripted_step(model)
            self.scripted = _SCRIPTED[model]

    def prime(self, prefixes: list[list[int]]) -> np.ndarray:
        """Feed prefixes (left-aligned; shorter ones padded by repeating their start).

        Returns
        -------
        np.ndarray
            (B, V) logits of the next token.
        """
        torch = self._torch
        if self._motion is not None:  # follow the prefixes' voices, to go on from them in step()
            tables = getattr(self.model, "voice_tables", None)
            if tables is None:
                raise RuntimeError("a motion-input model needs set_voice_tables(codec) before it runs")
            self._tracker = MotionTracker(tables[0], tables[1], rows=len(prefixes))
            for r, p in enumerate(prefixes):
                for t in p:
                    self._tracker.feed_one(r, t)
        with torch.inference_mode():
            lens = {len(p) for p in prefixes}
            if len(lens) == 1:
                x = torch.tensor(prefixes, dtype=torch.long)
                logits, self.state = self.model(x)  # a motion-input model reads the classes of x
                return logits[:, -1].float().numpy()
            # Different lengths: run each alone, then stack the states.
            outs, hs, cs = [], [], []
            for p in prefixes:
                lg, (h, c) = self.model(torch.tensor([p], dtype=torch.long))
                outs.append(lg[:, -1])
                hs.append(h)
                cs.append(c)
            self.state = (torch.cat(hs, 1), torch.cat(cs, 1))
            return torch.cat(outs).float().numpy()

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed one token per stream: (B,) -> (B, V) logits.

        The model's own layers (its forward, less the dropout that evaluation skips and the module
        hooks it has none of): the same numbers as ``model(x, state)``, in one scripted call where it compiles.
        """
        torch = self._torch
        m: Any = self.model
        with torch.inference_mode():
            ids = torch.from_numpy(tokens).view(-1, 1)
            if self.scripted is not None and self.state is not None:
                logits, h, c = self.scripted(ids, self.state[0], self.state[1])
                self.state = (h, c)
                return logits.numpy()
            x = torch.embedding(m.embed.weight, ids)
            if self._tracker is not None:
                x = x + torch.embedding(self._motion.weight, torch.from_numpy(self._tracker.feed(tokens)).view(-1, 1))
            y, self.state = m.lstm.forward(x, self.state)
            return m.head.forward(y[:, 0]).float().numpy()


def _scripted_step(model: torch.nn.Module) -> Any:
    """``model``'s embedding, LSTM and head for one step, compiled by TorchScript (None where it does not compile).

    TorchScript is deprecated in torch but still runs; where it is gone or refuses the model, :meth:`Stepper.step`
    calls the layers from Python (the same numbers, slower).
    """
    import torch

    embed: Any = getattr(model, "embed", None)
    lstm: Any = getattr(model, "lstm", None)
    head: Any = getattr(model, "head", None)
    if not all(isinstance(layer, torch.nn.Module) for layer in (embed, lstm, head)):
        return None

    class _Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed, self.lstm, self.head = embed, lstm, head

        def forward(self, ids: torch.Tensor, h: torch.Tensor, c: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            y, (h2, c2) = self.lstm(self.embed(ids), (h, c))
            return self.head(y[:, 0]).float(), h2, c2

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (its deprecation notice)
            return torch.jit.script(_Step().eval())
    except Exception:  # noqa: BLE001 - any refusal leaves the Python path, which always works
        return None


def quantize_model(model: torch.nn.Module) -> torch.nn.Module:
    """int8 dynamic quantization of the LSTM and the head (CPU inference)."""
    # torch deprecates torch.ao quantization in favour of torchao (another dependency); the
    # dynamic int8 path still works and is what we measure, so keep its notices off users' screens.
    for text in ("torch.ao.quantization is deprecated", "torch.quantize_per_tensor"):
        warnings.filterwarnings("ignore", message=text)

    import torch
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(copy.deepcopy(model).cpu().eval(), {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8)


__all__ = ["Stepper", "quantize_model"]
