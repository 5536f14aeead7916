"""Whole pieces, continuations and endless streams from a trained model.

The public API (also ``composer.generate`` / ``composer.continue_melody``)::

    pm = composer.generate(bars=16, seed=1)                  # pretty_midi.PrettyMIDI
    pm = composer.continue_melody("tinyNotation: 4/4 c4 d e f g2 g", bars=8)

Pieces come from :func:`sample_pieces`, which samples a batch of streams with
the grammar masks of :mod:`composer.sample`, so every piece decodes to valid
MIDI; a piece ends at a bar line with every note closed.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from composer.checkpoint import Checkpoint, load_checkpoint
from composer.config import DEFAULT_KEY_BIAS, DEFAULT_TEMPERATURE, SampleOptions
from composer.errors import InputError
from composer.events import Note
from composer.keys import find_key, key_name, parse_key
from composer.midifile import score_from_notes, write_score
from composer.primer import Primer, parse_primer
from composer.sample import RemiState, Stepper, sample_streams

if TYPE_CHECKING:
    import pretty_midi
    from symusic import Score

MAX_BARS = 1024  # longest piece one call writes
TOKENS_PER_BAR_LIMIT = 400  # safety cap on tokens per requested bar

__all__ = [
    "GeneratedPiece", "continue_melody", "continue_notes", "generate", "parse_primer",
    "sample_pieces", "stream_notes",
]


@dataclass
class GeneratedPiece:
    """One generated piece on a beat timeline."""

    notes: list[Note]
    bars: int
    time_signature: tuple[int, int]
    tempo: float  # bpm
    program: int
    key: str  # the key the piece was asked for or the model chose
    seed: int
    primer_notes: int = 0  # how many of ``notes`` are the primer's (they come first)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def found_key(self) -> str:
        """Key found in the notes (Krumhansl-Schmuckler)."""
        return key_name(find_key(self.notes)[0])

    def to_score(self) -> Score:
        """A one-track ``symusic.Score`` (type-1 MIDI when written)."""
        return score_from_notes(self.notes, tempo=self.tempo, time_signature=self.time_signature,
                                program=self.program, name=self.meta.get("model", "composer"))

    def to_pretty_midi(self) -> pretty_midi.PrettyMIDI:
        """The piece as ``pretty_midi.PrettyMIDI``."""
        import io

        import pretty_midi

        return pretty_midi.PrettyMIDI(io.BytesIO(bytes(self.to_score().dumps_midi())))

    def write(self, path: str | Path, force: bool = False) -> Path:
        """Write a standard MIDI file atomically (refuses to overwrite unless ``force``)."""
        return write_score(self.to_score(), path, force=force)


@functools.lru_cache(maxsize=4)
def _load(checkpoint: str | None) -> Checkpoint:
    return load_checkpoint(checkpoint)


def load_model(checkpoint: str | Path | None) -> Checkpoint:
    """Load (and cache) a checkpoint by name, folder or file; ``None`` is the default model."""
    return _load(None if checkpoint is None else str(checkpoint))


@functools.lru_cache(maxsize=4)
def _stepper_model(checkpoint: str | None, quantize: bool) -> torch.nn.Module:
    from composer.sample import quantize_model

    model = _load(checkpoint).model
    return quantize_model(model) if quantize else model


def _seed(seed: int | None) -> int:
    return int.from_bytes(os.urandom(4), "little") if seed is None else int(seed)


def _controls(ckpt: Checkpoint, options: SampleOptions, tempo: float | None, key_index: int | None
              ) -> tuple[list[int], dict[str, int]]:
    codec = ckpt.codec
    style = options.style or ckpt.meta.get("corpus")
    prefix = [codec.bos]
    if style is not None and f"Style_{style}" in codec.controls:
        prefix.append(codec.style_id(style))
    elif options.style:
        raise InputError(f"unknown style {options.style!r}; this model knows: {', '.join(codec.styles)}")
    forced: dict[str, int] = {}
    if options.key:
        try:
            key_index = parse_key(options.key)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    if key_index is not None:
        forced["Key"] = codec.key_id(key_index)
    if tempo is not None:
        forced["TempoBand"] = codec.tempo_id(tempo)
    return prefix, forced


def _default_tempo(ckpt: Checkpoint) -> float:
    """The model's tempo (bpm) when neither the caller nor a primer gives one."""
    return float(ckpt.meta.get("default_tempo", 100.0))


def _primed_prefix(ckpt: Checkpoint, prefix: list[int], forced: dict[str, int], bpm: float) -> list[int]:
    """``prefix`` with the Key and TempoBand controls written out, for a primer to follow.

    Without a primer the grammar samples (or forces) them right after the prefix; a primer's
    music comes right after the prefix, so they must be in it, or the model sees a sequence
    it never saw in training (and loses the primer's key).
    """
    codec = ckpt.codec
    out = list(prefix)
    if "Key" in forced:
        out.append(forced["Key"])
    if "TempoBand" in forced:
        out.append(forced["TempoBand"])
    elif any(c.startswith("TempoBand_") for c in codec.controls):
        out.append(codec.tempo_id(bpm))
    return out


def bars_for(seconds: float, tempo: float, time_signature: tuple[int, int]) -> int:
    """Whole bars covering ``seconds`` at ``tempo`` (quarter-note bpm)."""
    bar_beats = time_signature[0] * 4 / time_signature[1]
    return max(1, math.ceil(seconds * tempo / 60 / bar_beats))


def sample_pieces(
    checkpoint: str | Path | None = None,
    *,
    n: int = 1,
    bars: int = 16,
    options: SampleOptions = SampleOptions(),
    tempo: float | None = None,
    program: int | None = None,
    primer: Primer | None = None,
    quantize: bool = True,
) -> list[GeneratedPiece]:
    """Sample ``n`` pieces of ``bars`` bars in one batch.

    Parameters
    ----------
    checkpoint : str or path, optional
        Model name, folder or file; ``None`` = the default bundled model.
    n : int
        Pieces, sampled together as one batch.
    bars : int
        Length of each piece in bars (a primer's bars included).
    options : SampleOptions
        Sampling and constraints; ``options.seed`` makes the result reproducible.
    tempo : float, optional
        bpm written to the file and used for the tempo control token.
    program : int, optional
        General MIDI program of the track (default: the model's, else 0).
    primer : Primer, optional
        Music to continue: the pieces start with it unchanged.
    quantize : bool
        Sample with the int8-quantized model (faster on CPU).
    """
    if not 1 <= n <= 256:
        raise InputError(f"number of pieces must be in 1..256, got {n}")
    if not 1 <= bars <= MAX_BARS:
        raise InputError(f"bars must be in 1..{MAX_BARS}, got {bars}")
    if program is not None and not 0 <= program <= 127:
        raise InputError(f"program must be in 0..127, got {program}")
    if tempo is not None and not 10 <= tempo <= 400:
        raise InputError(f"tempo must be in 10..400 bpm, got {tempo}")
    ckpt = load_model(checkpoint)
    codec = ckpt.codec
    seed = _seed(options.seed)
    gen = torch.Generator().manual_seed(seed)
    key_index = None
    primer_ids: list[int] = []
    if primer is not None and primer.notes:
        if not options.key:
            key_index = find_key(primer.notes)[0]  # continue in the primer's key
        primer_ids = codec.music_ids(codec.encode_score(primer.to_score()))
        tempo = tempo or primer.tempo
    bpm = tempo or _default_tempo(ckpt)
    prefix, forced = _controls(ckpt, options, tempo, key_index)
    ref = None if checkpoint is None else str(checkpoint)
    stepper = Stepper(_stepper_model(ref, quantize))
    states: list[RemiState] = []
    ids: list[list[int]] = [[] for _ in range(n)]
    notes: list[list[Note]] = [[] for _ in range(n)]

    def make_state() -> RemiState:
        st = RemiState(codec, options, bars)
        st.forced = dict(forced)
        if primer is not None:
            st.min_onset = primer.end
        states.append(st)
        return st

    if primer_ids:
        prefix = _primed_prefix(ckpt, prefix, forced, bpm)
    streams = sample_streams(stepper, codec, [prefix + primer_ids] * n, options, bars,
                             max_tokens=bars * TOKENS_PER_BAR_LIMIT, generator=gen, make_state=make_state)
    for i, tok, note in streams:
        ids[i].append(tok)
        if note is not None:
            notes[i].append(note)
    out = []
    for i, st in enumerate(states):
        end = st.end_beat
        body = [replace(nt, duration=round(min(nt.end, end) - nt.start, 6))
                for nt in notes[i] if nt.start < end - 1e-9]
        if primer is not None:  # the primer itself, unchanged, then the continuation
            body = [nt for nt in body if nt.start >= primer.end - 1e-9]
            body = list(primer.notes) + body
        key_tok = next((t for t in ids[i] if codec.types[t] == "Key"), forced.get("Key"))
        out.append(GeneratedPiece(
            notes=sorted(body),
            bars=max(st.bar + 1, 1),
            time_signature=(st.time_signatures[0][1], st.time_signatures[0][2]) if st.time_signatures
            else (primer.time_signature if primer else (4, 4)),
            tempo=float(bpm),
            program=int(program if program is not None else ckpt.meta.get("default_program", 0)),
            key=codec.token_of(key_tok).split("_", 1)[1].replace("_", " ") if key_tok is not None else "",
            seed=seed,
            primer_notes=len(primer.notes) if primer else 0,
            meta={"model": ckpt.name, "tokens": len(ids[i]), "index": i},
        ))
    return out


def generate(
    checkpoint: str | Path | None = None,
    *,
    bars: int = 16,
    seconds: float | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    key: str | None = None,
    key_bias: float = DEFAULT_KEY_BIAS,
    tempo: float | None = None,
    program: int | None = None,
) -> pretty_midi.PrettyMIDI:
    """Generate one piece and return it as ``pretty_midi.PrettyMIDI``.

    Parameters
    ----------
    checkpoint : str or path, optional
        Bundled model name (``"chorales"``, ``"folk"``), folder or file.
    bars, seconds : int, float
        Length in bars, or in seconds at ``tempo`` (rounded up to whole bars).
    temperature, top_k, top_p, seed, key, key_bias : sampling options
        See :class:`~composer.config.SampleOptions`.
    tempo : float, optional
        bpm (default: the model's).
    program : int, optional
        General MIDI program.

    Examples
    --------
    >>> import composer
    >>> pm = composer.generate("chorales", bars=8, seed=3)  # doctest: +SKIP
    >>> pm.write("chorale.mid")  # doctest: +SKIP
    """
    opts = SampleOptions(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, key=key, key_bias=key_bias)
    if seconds is not None:
        bars = bars_for(seconds, tempo or 100.0, (4, 4))
    piece = sample_pieces(checkpoint, n=1, bars=bars, options=opts, tempo=tempo, program=program)[0]
    return piece.to_pretty_midi()


def continue_melody(
    primer: str | Path | Sequence[Note],
    checkpoint: str | Path | None = None,
    *,
    bars: int = 8,
    temperature: float = DEFAULT_TEMPERATURE,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
    key: str | None = None,
    key_bias: float = DEFAULT_KEY_BIAS,
    tempo: float | None = None,
) -> pretty_midi.PrettyMIDI:
    """Continue a melody: the result starts with the primer unchanged, then ``bars`` new bars.

    Parameters
    ----------
    primer : str, path or list of Note
        A MIDI file, a typed melody (``"tinyNotation: 4/4 c4 d e f"`` or note
        names ``"C4:1 D4:0.5 E4"``), or notes.
    checkpoint : str or path, optional
        Model name, folder or file (default: the bundled chorale model).
    bars : int
        New bars after the primer.
    temperature, top_k, top_p, seed, key, key_bias : sampling options
        See :class:`~composer.config.SampleOptions`.
    tempo : float, optional
        bpm (default: the primer's, else the model's).
    """
    p = primer if isinstance(primer, Primer) else parse_primer(primer)
    opts = SampleOptions(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, key=key, key_bias=key_bias)
    total = p.bars + bars
    return sample_pieces(checkpoint, n=1, bars=total, options=opts, tempo=tempo, primer=p)[0].to_pretty_midi()


def continue_notes(
    primer: Sequence[Note], bars: int, checkpoint: str | None = None,
    options: SampleOptions = SampleOptions(),
) -> list[Note]:
    """New notes continuing ``primer`` for ``bars`` bars, on the primer's timeline (for ``jam``)."""
    p = Primer(sorted(primer))
    piece = sample_pieces(checkpoint, n=1, bars=p.bars + bars, options=options, primer=p)[0]
    return piece.notes[piece.primer_notes:]


def stream_notes(
    checkpoint: str | None = None,
    options: SampleOptions = SampleOptions(),
    primer: Sequence[Note] | None = None,
    bars: int | None = None,
    quantize: bool = True,
) -> Iterator[Note]:
    """Notes in non-decreasing start order, as the model writes them; endless when ``bars`` is None.

    A primer, if given, is not re-yielded: the stream continues after it.
    """
    ckpt = load_model(checkpoint)
    codec = ckpt.codec
    p = Primer(sorted(primer)) if primer else None
    key_index = find_key(p.notes)[0] if p and not options.key else None
    prefix, forced = _controls(ckpt, options, None, key_index)
    primer_ids = codec.music_ids(codec.encode_score(p.to_score())) if p else []
    if primer_ids:
        bpm = (p.tempo if p else None) or _default_tempo(ckpt)
        prefix = _primed_prefix(ckpt, prefix, forced, bpm)
    gen = torch.Generator().manual_seed(_seed(options.seed))
    stepper = Stepper(_stepper_model(checkpoint, quantize))

    def make_state() -> RemiState:
        st = RemiState(codec, options, None if bars is None else (p.bars if p else 0) + bars)
        st.forced = dict(forced)
        st.min_onset = p.end if p else 0.0
        return st

    limit = 10**12 if bars is None else bars * TOKENS_PER_BAR_LIMIT
    for _, _, note in sample_streams(stepper, codec, [prefix + primer_ids], options, None, limit, gen,
                                     make_state=make_state, reset_every=4096 if bars is None else 0):
        if note is not None:
            yield note


def harmonize(
    primer: Primer,
    checkpoint: str | Path | None = None,
    *,
    options: SampleOptions = SampleOptions(),
    tempo: float | None = None,
    program: int | None = None,
    quantize: bool = True,
) -> GeneratedPiece:
    """Keep the primer's melody (its top line) as the top voice and let the model fill the voices beneath.

    Works with one-stream REMI models such as the bundled ``chorales``; the
    result has the primer's length.
    """
    from composer.harmonize import HarmonizeState, top_line

    ckpt = load_model(checkpoint)
    codec = ckpt.codec
    melody = top_line(primer.notes)
    seed = _seed(options.seed)
    key_index = None if options.key else find_key(melody)[0]
    prefix, forced = _controls(ckpt, replace(options, key=None), tempo or primer.tempo, key_index)
    if options.key:
        forced["Key"] = codec.key_id(parse_key(options.key))
    ts_name = f"TimeSig_{primer.time_signature[0]}/{primer.time_signature[1]}"
    states: list[HarmonizeState] = []

    def make_state() -> HarmonizeState:
        # four voices (melody + three) unless asked otherwise: the chorale texture
        # the lower voices keep to the melody's key (its own notes may leave it)
        key = options.key or (key_name(key_index) if key_index is not None else None)
        opts = replace(options, key=key, max_polyphony=options.max_polyphony or 4)
        st = HarmonizeState(codec, opts, melody, primer.bars)
        st.forced = dict(forced)
        if ts_name in codec.controls or ts_name in codec.tok.vocab:
            st.ts_id = codec.id_of(ts_name)
        states.append(st)
        return st

    ref = None if checkpoint is None else str(checkpoint)
    stepper = Stepper(_stepper_model(ref, quantize))
    gen = torch.Generator().manual_seed(seed)
    notes: list[Note] = []
    for _, _, note in sample_streams(stepper, codec, [prefix], options, primer.bars,
                                     primer.bars * TOKENS_PER_BAR_LIMIT, gen, make_state=make_state):
        if note is not None:
            notes.append(note)
    st = states[0]
    onsets = {(round(st._grid(m.start), 6), m.pitch) for m in melody}
    end = primer.bars * primer.bar_beats
    lower = [replace(n, duration=round(min(n.end, end) - n.start, 6)) for n in notes
             if (round(n.start, 6), n.pitch) not in onsets and n.start < end - 1e-9]
    bpm = tempo or primer.tempo or _default_tempo(ckpt)
    return GeneratedPiece(
        notes=sorted(list(melody) + lower),
        bars=primer.bars,
        time_signature=primer.time_signature,
        tempo=float(bpm),
        program=int(program if program is not None else ckpt.meta.get("default_program", 0)),
        key=key_name(key_index) if key_index is not None else str(options.key),
        seed=seed,
        primer_notes=len(melody),
        meta={"model": ckpt.name, "mode": "harmonize", "melody_notes_written": st.idx},
    )
