"""Token-by-token sampling: logits filtering, drawing, and the batched sampling loop.

:func:`sample_streams` runs a :class:`Model` (:class:`~composer.generation.stepper.Stepper` or
:class:`~composer.inference.ArrayLSTM`: the model, one token at a time)
under the grammar masks of :class:`~composer.generation.grammar.RemiState`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from composer.config import SampleOptions
from composer.events import Note
from composer.generation.grammar import RemiState

if TYPE_CHECKING:
    from composer.codec import AnyCodec


class Model(Protocol):
    """What :func:`sample_streams` runs: a :class:`Stepper` (torch) or :class:`composer.inference.ArrayLSTM`."""

    def prime(self, prefixes: list[list[int]]) -> np.ndarray:
        """Feed the prefixes; (B, V) logits of the next token."""

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed one token per stream; (B, V) logits."""


class Uniforms(Protocol):
    """A seeded source of the uniforms :func:`draw` turns into tokens."""

    def uniform(self, n: int) -> np.ndarray:
        """(n, 1) float32 uniforms in [0, 1)."""


class TorchUniforms:
    """Uniforms from ``torch.rand`` on a seeded ``torch.Generator`` (the file sampler's, as recorded)."""

    def __init__(self, seed: int) -> None:
        import torch

        self.generator = torch.Generator().manual_seed(seed)
        self._rand = torch.rand

    def uniform(self, n: int) -> np.ndarray:
        """(n, 1) float32 uniforms in [0, 1)."""
        return self._rand(n, 1, generator=self.generator).numpy()


class NumpyUniforms:
    """Uniforms from numpy's PCG64 generator (the torch-free live path)."""

    def __init__(self, seed: int) -> None:
        self.generator = np.random.Generator(np.random.PCG64(seed))

    def uniform(self, n: int) -> np.ndarray:
        """(n, 1) float32 uniforms in [0, 1)."""
        return self.generator.random((n, 1), dtype=np.float32)


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


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (B, V) logits (masked entries -inf; every row has a finite one)."""
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _tempered(logits: np.ndarray, options: SampleOptions) -> np.ndarray:
    logits = logits / options.temperature
    if options.top_k and options.top_k < logits.shape[-1]:
        kth = -np.partition(-logits, options.top_k - 1, axis=-1)[:, options.top_k - 1:options.top_k]
        logits = np.where(logits < kth, -np.inf, logits)
    return logits


def _nucleus(probs: np.ndarray, top_p: float) -> np.ndarray:
    """(B, V) bool: the smallest set of likeliest tokens whose mass reaches ``top_p`` (ties at its edge kept)."""
    ranked = probs.copy()
    ranked.sort(axis=-1)
    ranked = ranked[:, ::-1]
    kept = (ranked.cumsum(-1) - ranked <= top_p).sum(-1)  # a prefix of the ranking
    return probs >= ranked[np.arange(len(probs)), kept - 1][:, None]


def filter_logits(logits: np.ndarray, options: SampleOptions) -> np.ndarray:
    """Temperature, top-k and top-p applied to (B, V) logits (masked entries are -inf).

    numpy, not torch: at one to a few dozen rows of a few hundred tokens a numpy call costs a
    fraction of a torch op's dispatch, and sampling runs once per token (``benchmarks/bench_sample.py``).
    """
    logits = _tempered(logits, options)
    if options.top_p < 1.0:
        logits = np.where(_nucleus(softmax(logits), options.top_p), logits, -np.inf)
    return logits


def filtered_probs(logits: np.ndarray, options: SampleOptions) -> np.ndarray:
    """``softmax(filter_logits(logits, options))``, with one softmax."""
    probs = softmax(_tempered(logits, options))
    if options.top_p < 1.0:
        probs = np.where(_nucleus(probs, options.top_p), probs, 0.0)
        probs /= probs.sum(-1, keepdims=True)
    return probs


def typed_probs(logits: np.ndarray, options: SampleOptions, classes: np.ndarray, count: int,
                weights: np.ndarray | None = None, kind_classes: np.ndarray | None = None) -> np.ndarray:
    """(B, V) probabilities: the type of the next token at the model's odds, the token within it filtered.

    ``classes`` (V,) or (B, V) gives each token's type as 0..count-1; masked logits are -inf.  When the
    rows are some of a batch's, ``kind_classes`` (the batch's classes) says which columns each kind
    has, so a kind is filtered over the same columns, and each row comes out the same, as in the batch.
    """
    rows = np.arange(len(logits))[:, None]
    base = softmax(logits)
    flat = (classes + count * rows).ravel()  # each row's kinds in a block of its own
    size = len(logits) * count
    marginal = np.bincount(flat, weights=base.ravel(), minlength=size)
    if weights is not None:  # (count,) odds of each kind reweighted, then renormalized
        marginal = (marginal.reshape(-1, count) * weights).ravel()
        marginal /= np.repeat(np.maximum(marginal.reshape(-1, count).sum(-1), 1e-30), count)
    allowed = logits > -np.inf
    counts = np.bincount(flat, weights=allowed.ravel(), minlength=size)
    # a kind with one token allowed in a row (a hold, a rest, a fermata) takes its odds whole: no filter
    # changes a single token's share
    out = np.where(allowed & (counts[flat] == 1).reshape(logits.shape), marginal[flat].reshape(logits.shape), 0.0)
    several = ((counts > 1) & (marginal > 0)).reshape(-1, count)
    for c in np.nonzero(several.any(0))[0].tolist():  # the kinds to filter (the pitches)
        of_c = classes == c
        in_kind = of_c if kind_classes is None else kind_classes == c
        cols = (in_kind if in_kind.ndim == 1 else in_kind.any(0)).nonzero()[0]  # the kind's tokens only
        of_c, kind_logits = of_c[..., cols], logits[:, cols]
        live = several[:, c].nonzero()[0]
        if len(live) < len(logits):  # some rows have none or one of the kind
            kind_logits, of_c = kind_logits[live], of_c if classes.ndim == 1 else of_c[live]
        filtered = filtered_probs(np.where(of_c, kind_logits, -np.inf), options) * marginal[live * count + c][:, None]
        if len(live) < len(logits):
            out[live[:, None], cols] += filtered
        else:
            out[:, cols] += filtered
    return out


def sample_streams(
    stepper: Model,
    codec: AnyCodec,
    prefixes: Sequence[Sequence[int]],
    options: SampleOptions,
    bars: int | None,
    max_tokens: int,
    generator: Uniforms,
    make_state: Callable[[], StreamState] | None = None,
    reset_every: int = 0,
    typed: bool = False,
    regroup: Callable[[list[StreamState], Rows], None] | None = None,
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

    ``regroup`` is called with the states and the sampler's :class:`Rows` after each token: it may have a row go on
    from another's stream (:meth:`Rows.take`) or from a snapshot of its own taken earlier (:meth:`Rows.save`,
    :meth:`Rows.restore`), having put the matching grammar state in the list; the sampler then moves its own rows
    alike (the tokens so far, the LSTM's state, the next token), and each samples on with its own draws.  (A
    motion-input model's tracker does not follow: no regrouping there.)
    """
    states: list[StreamState] = [make_state() if make_state else RemiState(codec, options, bars)  # type: ignore[arg-type]
                                 for _ in prefixes]
    for st, pre in zip(states, prefixes, strict=True):
        for tok in pre:
            st.update(int(tok))
    history = [list(p) for p in prefixes]
    control_types = ("BOS", "Style", "Key", "TempoBand")
    logits = stepper.prime(history)  # (B, V)
    alive = [True] * len(prefixes)
    bar_id = codec.id_of("Bar_None")
    eos_id = codec.id_of("EOS_None")
    since_reset = 0
    kinds = sorted(set(codec.types)) if typed else []
    classes = np.array([kinds.index(t) for t in codec.types]) if typed else np.zeros(0, dtype=np.int64)
    repeat_weights = np.array([1.0] * len(kinds) + [options.repeats or 1.0])
    biases: list[np.ndarray | None] = [None] * len(states)
    bias = None  # the states' biases stacked (B, V), a row replaced when its state's changes
    repeats = typed and options.repeats is not None
    repeat = [-1] * len(states)
    for step in range(max_tokens):
        # one pass over the rows (the Python work that grows with the batch): masks, ends, biases, repeats
        rows, ends, changed = [], [], []
        for i, st in enumerate(states):
            rows.append(st.allowed())
            if st.bar_is_eos:
                ends.append(i)
            if st.bias is not biases[i]:
                biases[i] = st.bias
                changed.append(i)
            if repeats:
                repeat[i] = getattr(st, "repeat_id", -1)
        masks = np.array(rows)  # (B, V); np.stack costs a few times more at 16 rows
        if ends:  # the model's wish for a bar line past the target is its wish to end
            logits = logits.copy()
            logits[ends, eos_id] = np.logaddexp(logits[ends, eos_id], logits[ends, bar_id])
        if step == max_tokens - 64:  # close out at the next bar line
            for st in states:
                st.target_bars = min(st.target_bars or 10**9, st.bar + 1)
        if changed:
            bias = _restacked(bias, biases, changed, masks.shape[1])
        if bias is not None:
            logits = logits + bias
        # only the tokens some row may take (a tenth to a half of the vocabulary) go through the filters
        cols = np.nonzero(masks.any(0))[0]
        allowed = masks[:, cols]
        masked = np.where(allowed, logits[:, cols], -np.inf)
        # a row the grammar forces (one token allowed) comes out at probability 1 exactly, as if drawn
        # apart: the filters are row by row, so only the rows with a choice go through them
        choices = allowed.sum(-1)
        if choices.max() == 1:  # every row forced (a bar line, a position)
            probs = allowed.astype(np.float64)
        else:
            free = (choices > 1).nonzero()[0]
            some = len(free) < len(states)
            if not typed:
                probs = filtered_probs(masked[free] if some else masked, options)
            elif options.repeats is None:
                probs = typed_probs(masked[free] if some else masked, options, classes[cols], len(kinds))
            else:  # a repeated note is a kind of its own: struck again or not, at reweighted odds
                kind_of = np.empty((len(states), len(cols)), classes.dtype)  # each row the columns' kinds
                kind_of[:] = classes[cols]  # (np.tile costs a few times more)
                repeat_ids = np.array(repeat)
                at = np.minimum(np.searchsorted(cols, repeat_ids), len(cols) - 1)  # the repeat's column, if any
                hit = (cols[at] == repeat_ids).nonzero()[0]
                kind_of[hit, at[hit]] = len(kinds)
                probs = typed_probs(masked[free], options, kind_of[free], len(kinds) + 1, repeat_weights,
                                    kind_classes=kind_of) if some else typed_probs(
                    masked, options, kind_of, len(kinds) + 1, repeat_weights)
            if some:  # the forced rows one-hot (in the filters' dtype: the draw's cumulative sums stay theirs)
                probs, chosen = allowed.astype(probs.dtype), probs
                probs[free] = chosen
        nxt = cols[draw(probs, generator)]  # (B,)
        for i, tok in enumerate(nxt.tolist()):
            if not alive[i]:
                continue
            note = states[i].update(tok)
            history[i].append(tok)
            yield i, tok, note
            if states[i].done:
                alive[i] = False
        if regroup is not None and getattr(stepper, "_tracker", getattr(stepper, "tracker", None)) is None:
            moves = Rows(history, alive, nxt, stepper.state)  # type: ignore[attr-defined]
            regroup(states, moves)
            if moves.moved:
                history, alive, nxt, stepper.state = moves.moved  # type: ignore[attr-defined]
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


class RowSnapshot(NamedTuple):
    """One row of the sampler as it was: its tokens, its LSTM state (layers, hidden) and the token it feeds next."""

    history: list[int]
    h: Any
    c: Any
    token: int


class Rows:
    """The sampler's rows as a ``regroup`` callback of :func:`sample_streams` moves them (applied after it)."""

    def __init__(self, history: list[list[int]], alive: list[bool], nxt: np.ndarray, state: tuple[Any, Any]) -> None:
        self._history, self._alive, self._nxt, self._state = history, alive, nxt, state
        self._src: list[int] = list(range(len(history)))
        self._snaps: list[RowSnapshot] = []  # restored, as extra rows after the batch's
        self.moved: tuple[list[list[int]], list[bool], np.ndarray, tuple[Any, Any]] | None = None

    def take(self, row: int, source: int) -> None:
        """Row ``row`` goes on from row ``source``'s stream (as it is now)."""
        self._src[row] = source
        self._apply()

    def save(self, row: int) -> RowSnapshot:
        """Row ``row`` as it is now (before any move this call asks for)."""
        h, c = self._state
        return RowSnapshot(list(self._history[row]), h[:, row].clone() if hasattr(h, "clone") else h[:, row].copy(),
                           c[:, row].clone() if hasattr(c, "clone") else c[:, row].copy(), int(self._nxt[row]))

    def restore(self, row: int, snap: RowSnapshot) -> None:
        """Row ``row`` goes back to a snapshot of it (:meth:`save`)."""
        self._src[row] = len(self._history) + len(self._snaps)
        self._snaps.append(snap)
        self._apply()

    def _apply(self) -> None:
        n, src, snaps = len(self._history), self._src, self._snaps
        h, c = self._state
        if snaps:  # the snapshots' rows after the batch's, then one gather
            cat = np.concatenate if isinstance(h, np.ndarray) else _torch_cat
            h, c = cat([h] + [s.h[:, None] for s in snaps], 1), cat([c] + [s.c[:, None] for s in snaps], 1)
        history = [list(self._history[j]) if j < n else list(snaps[j - n].history) for j in src]
        alive = [self._alive[j] if j < n else True for j in src]
        nxt = np.array([int(self._nxt[j]) if j < n else snaps[j - n].token for j in src], dtype=self._nxt.dtype)
        self.moved = (history, alive, nxt, (h[:, src], c[:, src]))


def _torch_cat(parts: list[Any], dim: int) -> Any:
    import torch

    return torch.cat(parts, dim)


def _restacked(bias: np.ndarray | None, biases: list[np.ndarray | None], changed: list[int],
               size: int) -> np.ndarray:
    """(B, V) the rows' logit offsets (a row without: zeros), after the rows ``changed`` took new ones.

    The rows changed are written in place when every offset is float32 (the grammars' own), else
    the whole stack is built again (its dtype is then numpy's promotion of them all).
    """
    if bias is not None and bias.dtype == np.float32 and all(
            biases[i] is None or biases[i].dtype == np.float32 for i in changed):  # type: ignore[union-attr]
        for i in changed:
            b = biases[i]
            bias[i] = 0.0 if b is None else b
        return bias
    return np.stack([np.zeros(size, np.float32) if b is None else b for b in biases])


def draw(probs: np.ndarray, generator: Uniforms) -> np.ndarray:
    """One token per row of (B, V) probabilities, by inverse CDF on ``generator``'s uniforms.

    Masked tokens (probability 0) are never drawn: the first index whose cumulative mass reaches
    ``u`` carries mass (``u`` > 0; past the last allowed token the sum stays the total, which ``u``
    does not pass).
    """
    cdf = probs.cumsum(-1)  # (B, V)
    u = np.maximum(generator.uniform(len(probs)) * cdf[:, -1:],
                   np.finfo(cdf.dtype).smallest_subnormal)  # > 0 in the cdf's own precision
    return (cdf < u).sum(-1)
