"""Token-by-token sampling: logits filtering, drawing, and the batched sampling loop.

:func:`sample_streams` runs a :class:`Stepper` (the model, one token at a time)
under the grammar masks of :class:`~composer.generation.grammar.RemiState`.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from composer.config import SampleOptions
from composer.events import Note
from composer.generation.grammar import RemiState

if TYPE_CHECKING:
    from composer.codec import AnyCodec


class StreamState(Protocol):
    """What :func:`sample_streams` needs of a grammar: :class:`RemiState` or the SATB grid's."""

    done: bool
    bar: int
    bar_is_eos: bool  # EOS stands in for the Bar the model may want (their logits are merged)
    target_bars: int | None
    bias: np.ndarray | None  # (V,) logit offsets, or None

    def allowed(self) -> np.ndarray:
        """(V,) bool: the tokens that may come next."""
        ...

    def update(self, token: int) -> Note | None:
        """Advance by one token; the note it completes, if any."""
        ...


def filter_logits(logits: torch.Tensor, options: SampleOptions) -> torch.Tensor:
    """Temperature, top-k and top-p applied to (B, V) logits (masked entries are -inf)."""
    logits = logits / options.temperature
    if options.top_k and options.top_k < logits.size(-1):
        kth = torch.topk(logits, options.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p < 1.0:
        sorted_logits, idx = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        cum = probs.cumsum(-1)
        drop = cum - probs > options.top_p  # keep the smallest set reaching top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, idx, sorted_logits)
    return logits


def typed_probs(logits: torch.Tensor, options: SampleOptions, classes: torch.Tensor, count: int,
                weights: torch.Tensor | None = None) -> torch.Tensor:
    """(B, V) probabilities: the type of the next token at the model's odds, the token within it filtered.

    ``classes`` (V,) or (B, V) gives each token's type as 0..count-1; masked logits are -inf.
    """
    base = torch.softmax(logits, dim=-1)
    classes = classes.expand(logits.size(0), -1)
    marginal = torch.zeros(logits.size(0), count).scatter_add_(1, classes, base)
    if weights is not None:  # (count,) odds of each kind reweighted, then renormalized
        marginal = marginal * weights
        marginal = marginal / marginal.sum(-1, keepdim=True).clamp_min(1e-30)
    allowed = torch.isfinite(logits)
    counts = torch.zeros(logits.size(0), count).scatter_add_(1, classes, allowed.to(base.dtype))
    # a kind with one token allowed in a row (a hold, a rest, a fermata) takes its odds whole: no filter
    # changes a single token's share
    single = allowed & (counts.gather(1, classes) == 1)
    out = torch.where(single, marginal.gather(1, classes), torch.zeros_like(base))
    several = (counts > 1) & (marginal > 0)
    for c in torch.nonzero(several.any(0)).flatten().tolist():  # the kinds to filter (the pitches)
        live = several[:, c]
        inside = logits[live].masked_fill(classes[live] != c, float("-inf"))
        out[live] += torch.softmax(filter_logits(inside, options), dim=-1) * marginal[live, c:c + 1]
    return out


def sample_streams(
    stepper: Stepper,
    codec: AnyCodec,
    prefixes: Sequence[Sequence[int]],
    options: SampleOptions,
    bars: int | None,
    max_tokens: int,
    generator: torch.Generator,
    make_state: Callable[[], StreamState] | None = None,
    reset_every: int = 0,
    typed: bool = False,
) -> Iterator[tuple[int, int, Note | None]]:
    """Sample several streams in one batch; yield ``(stream, token, note)`` per token.

    Every prefix is replayed through its grammar state first (a primer must be
    valid REMI).  A stream stops at EOS; after ``max_tokens`` new tokens the
    grammar is steered to end at the next bar line.  With ``reset_every`` (one
    stream only) the LSTM state is rebuilt at a bar line from the control
    prefix and the last bars, like the training windows, so an endless stream
    never runs far beyond the lengths the model was trained on.  With ``typed`` each token's type
    is drawn at the model's odds and the options shape only the token within it (:func:`typed_probs`);
    a state's ``repeat_id`` (the token striking again the pitch a voice sounds, -1 if none) is then
    a kind of its own, its odds times ``options.repeats``.
    """
    states: list[StreamState] = [make_state() if make_state else RemiState(codec, options, bars)  # type: ignore[arg-type]
                                 for _ in prefixes]
    for st, pre in zip(states, prefixes, strict=True):
        for tok in pre:
            st.update(int(tok))
    history = [list(p) for p in prefixes]
    control_types = ("BOS", "Style", "Key", "TempoBand")
    logits = stepper.prime(history)  # (B, V)
    no_bias = np.zeros(logits.size(-1), dtype=np.float32)
    alive = [True] * len(prefixes)
    bar_id = codec.id_of("Bar_None")
    eos_id = codec.id_of("EOS_None")
    since_reset = 0
    kinds = sorted(set(codec.types)) if typed else []
    classes = torch.tensor([kinds.index(t) for t in codec.types]) if typed else torch.zeros(0)
    repeat_weights = torch.tensor([1.0] * len(kinds) + [options.repeats or 1.0])
    for step in range(max_tokens):
        masks = np.stack([st.allowed() for st in states])
        ends = [i for i, st in enumerate(states) if st.bar_is_eos]
        if ends:  # the model's wish for a bar line past the target is its wish to end
            rows = torch.tensor(ends)
            logits = logits.clone()
            logits[rows, eos_id] = torch.logaddexp(logits[rows, eos_id], logits[rows, bar_id])
        if step == max_tokens - 64:  # close out at the next bar line
            for st in states:
                st.target_bars = min(st.target_bars or 10**9, st.bar + 1)
        mask_t = torch.from_numpy(masks)
        if any(st.bias is not None for st in states):
            logits = logits + torch.from_numpy(np.stack([no_bias if st.bias is None else st.bias for st in states]))
        masked = logits.masked_fill(~mask_t, float("-inf"))
        # a row the grammar forces (one token allowed) draws it with probability 1, as the filters
        # would give it; the others are filtered row by row (the same values as all rows together)
        probs = mask_t.to(torch.float32)
        free = mask_t.sum(-1) > 1
        if free.any() and not typed:
            probs[free] = torch.softmax(filter_logits(masked[free], options), dim=-1)
        elif free.any() and options.repeats is None:
            probs[free] = typed_probs(masked[free], options, classes, len(kinds))
        elif free.any():  # a repeated note is a kind of its own: struck again or not, at reweighted odds
            kind_of = classes.expand(len(states), -1).clone()
            for i, st in enumerate(states):
                if (r := getattr(st, "repeat_id", -1)) >= 0:
                    kind_of[i, r] = len(kinds)
            probs[free] = typed_probs(masked[free], options, kind_of[free], len(kinds) + 1, repeat_weights)
        nxt = draw(probs, generator)  # (B,)
        for i, tok in enumerate(nxt.tolist()):
            if not alive[i]:
                continue
            note = states[i].update(tok)
            history[i].append(tok)
            yield i, tok, note
            if states[i].done:
                alive[i] = False
        if not any(alive):
            return
        since_reset += 1
        if reset_every and since_reset >= reset_every and len(history) == 1 and history[0][-1] == bar_id:
            h = history[0]
            # the leading controls, sampled ones included (Key and TempoBand follow the prefix)
            control_len = next((j for j, t in enumerate(h) if codec.types[int(t)] not in control_types), len(h))
            bars_at = [j for j in range(control_len, len(h)) if h[j] == bar_id]
            keep = bars_at[-8] if len(bars_at) > 8 else bars_at[0]
            history[0] = h[:control_len] + h[keep:]
            logits = stepper.prime(history)
            since_reset = 0
            continue
        logits = stepper.step(nxt)


def draw(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token per row of (B, V) probabilities, by inverse CDF (cheaper than multinomial).

    Masked tokens (probability 0) are never drawn: the first index whose
    cumulative mass reaches ``u`` always carries mass.
    """
    cdf = probs.cumsum(-1)  # (B, V)
    u = torch.rand(probs.size(0), 1, generator=generator) * cdf[:, -1:]
    idx = torch.searchsorted(cdf, u).squeeze(1)  # first index with cdf >= u
    last = probs.size(1) - 1 - torch.argmax((probs.flip(-1) > 0).to(torch.int8), dim=-1)  # last allowed
    return torch.minimum(idx, last)


class Stepper:
    """Runs the model one token at a time, for a batch, keeping the LSTM state.

    Uses the model as given: fp32, or an int8 copy from :func:`quantize_model`; each
    step is one embedding lookup, one ``nn.LSTM`` call and one head matmul.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.model.eval()
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None

    @torch.inference_mode()
    def prime(self, prefixes: list[list[int]]) -> torch.Tensor:
        """Feed prefixes (left-aligned; shorter ones padded by repeating their start).

        Returns
        -------
        torch.Tensor
            (B, V) logits of the next token.
        """
        lens = {len(p) for p in prefixes}
        if len(lens) == 1:
            x = torch.tensor(prefixes, dtype=torch.long)
            logits, self.state = self.model(x)
            return logits[:, -1].float()
        # Different lengths: run each alone, then stack the states.
        outs, hs, cs = [], [], []
        for p in prefixes:
            lg, (h, c) = self.model(torch.tensor([p], dtype=torch.long))
            outs.append(lg[:, -1])
            hs.append(h)
            cs.append(c)
        self.state = (torch.cat(hs, 1), torch.cat(cs, 1))
        return torch.cat(outs).float()

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per stream: (B,) -> (B, V) logits."""
        logits, self.state = self.model(tokens.view(-1, 1), self.state)
        return logits[:, 0].float()


def quantize_model(model: torch.nn.Module) -> torch.nn.Module:
    """int8 dynamic quantization of the LSTM and the head (CPU inference)."""
    # torch deprecates torch.ao quantization in favour of torchao (another dependency); the
    # dynamic int8 path still works and is what we measure, so keep its notices off users' screens.
    for text in ("torch.ao.quantization is deprecated", "torch.quantize_per_tensor"):
        warnings.filterwarnings("ignore", message=text)

    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(copy.deepcopy(model).cpu().eval(), {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8)
