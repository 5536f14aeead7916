"""Pieces, continuations, harmonizations and endless streams from a trained model.

Every run shares one set-up (:class:`Sampling`: the model, the seed's generator,
the control tokens, the stepper) and samples with the grammar masks of
:mod:`composer.generation.grammar`, so every piece decodes to valid MIDI; a
piece ends at a bar line with every note closed.  The one-call public API
(``composer.generate`` / ``composer.continue_melody``) is in
:mod:`composer.generation.api`.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch

from composer.checkpoint import Checkpoint, load_checkpoint
from composer.config import SampleOptions
from composer.errors import InputError, OutputError
from composer.events import Note
from composer.files import refuse_overwrite
from composer.generation.grammar import RemiState
from composer.generation.harmonizer import HarmonizeState, top_line
from composer.generation.primer import Primer
from composer.generation.sampler import Stepper, quantize_model, sample_streams
from composer.keys import find_key, key_name
from composer.midifile import score_from_notes, write_score

if TYPE_CHECKING:
    import pretty_midi
    from symusic import Score

    from composer.tokenizer import Codec

MAX_BARS = 1024  # longest piece one call writes
TOKENS_PER_BAR_LIMIT = 400  # safety cap on tokens per requested bar

State = TypeVar("State", bound=RemiState)


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
        import pretty_midi

        return pretty_midi.PrettyMIDI(io.BytesIO(bytes(self.to_score().dumps_midi())))

    def write(self, path: str | Path, force: bool = False) -> Path:
        """Write a standard MIDI file atomically (refuses to overwrite unless ``force``)."""
        return write_score(self.to_score(), path, force=force)


def check_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` if needed and make sure a file can be written in it.

    Raises
    ------
    OutputError
        If it is a file, cannot be created, or is not writable (checked before sampling).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"output folder {out_dir} is a file")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {out_dir}: {exc.strerror}") from None
    probe = out_dir / ".composer-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"output folder {out_dir} is not writable: {exc.strerror}") from None


def next_paths(out_dir: Path, stem: str, count: int) -> list[Path]:
    """``count`` new file names ``STEM-NNN.mid`` after the highest already in ``out_dir``."""
    pattern = re.compile(rf"^{re.escape(stem)}-(\d+)\.mid$")
    taken = [int(m.group(1)) for p in out_dir.glob(f"{stem}-*.mid") if (m := pattern.match(p.name))]
    start = max(taken, default=0) + 1
    return [out_dir / f"{stem}-{start + i:03d}.mid" for i in range(count)]


def output_path(out: Path, stem: str, force: bool = False) -> Path:
    """Where one piece goes: ``out`` itself when it names a ``.mid``/``.midi`` file, else a new file in it.

    Checked before sampling: an existing file (without ``force``) or an unusable folder is an
    ``OutputError`` now, not after the work.
    """
    if out.suffix.lower() in (".mid", ".midi"):
        refuse_overwrite(out, force)
        return out
    check_out_dir(out)
    return next_paths(out, stem, 1)[0]


@functools.lru_cache(maxsize=4)
def _load(checkpoint: str | None) -> Checkpoint:
    return load_checkpoint(checkpoint)


def load_model(checkpoint: str | Path | None) -> Checkpoint:
    """Load (and cache) a checkpoint by name, folder or file; ``None`` is the default model."""
    return _load(None if checkpoint is None else str(checkpoint))


@functools.lru_cache(maxsize=4)
def _stepper_model(checkpoint: str | None, quantize: bool) -> torch.nn.Module:
    model = _load(checkpoint).model
    return quantize_model(model) if quantize else model


def bars_for(seconds: float, tempo: float, time_signature: tuple[int, int]) -> int:
    """Whole bars covering ``seconds`` at ``tempo`` (quarter-note bpm)."""
    bar_beats = time_signature[0] * 4 / time_signature[1]
    return max(1, math.ceil(seconds * tempo / 60 / bar_beats))


@dataclass
class Sampling:
    """The set-up every sampling run shares: model, seed, generator, control tokens, stepper.

    The control prefix itself is built by :meth:`composer.tokenizer.Codec.prefix`, the same
    builder the training sequences use, so the model is prompted as it was trained.
    """

    ckpt: Checkpoint
    seed: int
    generator: torch.Generator
    stepper: Stepper
    style: str | None  # the Style control (dropped by the codec when it has no such style)
    key_index: int | None  # the Key control the grammar must take, if any
    forced: dict[str, int]  # control type -> the id it must take
    states: list[RemiState] = field(default_factory=list)  # one per stream, in stream order

    @property
    def codec(self) -> Codec:
        """The checkpoint's codec."""
        return self.ckpt.codec

    @property
    def default_tempo(self) -> float:
        """The model's tempo (bpm) when neither the caller nor a primer gives one."""
        return float(self.ckpt.meta.get("default_tempo", 100.0))

    def program(self, program: int | None) -> int:
        """``program``, else the model's default General MIDI program."""
        return int(program if program is not None else self.ckpt.meta.get("default_program", 0))

    def prefix(self, primed_bpm: float | None = None) -> list[int]:
        """``BOS [Style]``; with ``primed_bpm`` (a primer follows) also the Key and TempoBand.

        Without a primer the grammar samples (or forces) Key and TempoBand right after the
        prefix; a primer's music comes right after the prefix, so they must be in it, or the
        model sees a sequence it never saw in training (and loses the primer's key).
        """
        if primed_bpm is None:
            return self.codec.prefix(self.style, None, None)
        return self.codec.prefix(self.style, self.key_index, primed_bpm)

    def track(self, state: State) -> State:
        """``state`` with the forced controls, remembered in :attr:`states` (a ``make_state`` helper)."""
        state.forced = dict(self.forced)
        self.states.append(state)
        return state

    def notes(self, options: SampleOptions, prefixes: Sequence[Sequence[int]], max_tokens: int,
              make_state: Callable[[], RemiState], reset_every: int = 0) -> Iterator[tuple[int, int, Note | None]]:
        """:func:`~composer.generation.sampler.sample_streams` with this run's stepper and generator."""
        return sample_streams(self.stepper, self.codec, prefixes, options, None, max_tokens, self.generator,
                              make_state=make_state, reset_every=reset_every)


def start_sampling(checkpoint: str | Path | None, options: SampleOptions, tempo: float | None = None,
                   key_index: int | None = None, quantize: bool = True) -> Sampling:
    """Load the model and set up a run: seed, generator, stepper and the controls.

    ``options.style`` (else the model's corpus) picks the Style control; ``options.key``
    (else ``key_index``) forces the Key control; ``tempo`` forces the TempoBand.

    Raises
    ------
    InputError
        For a style the model does not know, or a bad key.
    """
    ckpt = load_model(checkpoint)
    codec = ckpt.codec
    seed = int.from_bytes(os.urandom(4), "little") if options.seed is None else int(options.seed)
    style = options.style or ckpt.meta.get("corpus")
    if options.style and f"Style_{options.style}" not in codec.controls:
        raise InputError(f"unknown style {options.style!r}; this model knows: {', '.join(codec.styles)}")
    if options.key:
        key_index = options.key_index
    forced: dict[str, int] = {}
    if key_index is not None:
        forced["Key"] = codec.key_id(key_index)
    if tempo is not None:
        forced["TempoBand"] = codec.tempo_id(tempo)
    ref = None if checkpoint is None else str(checkpoint)
    return Sampling(ckpt, seed, torch.Generator().manual_seed(seed), Stepper(_stepper_model(ref, quantize)),
                    style, key_index, forced)


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
    codec = load_model(checkpoint).codec
    key_index = None
    primer_ids: list[int] = []
    if primer is not None and primer.notes:
        if not options.key:
            key_index = find_key(primer.notes)[0]  # continue in the primer's key
        primer_ids = codec.music_ids(codec.encode_score(primer.to_score()))
        tempo = tempo or primer.tempo
    run = start_sampling(checkpoint, options, tempo, key_index, quantize)
    bpm = tempo or run.default_tempo
    ids: list[list[int]] = [[] for _ in range(n)]
    notes: list[list[Note]] = [[] for _ in range(n)]

    def make_state() -> RemiState:
        st = run.track(RemiState(codec, options, bars))
        if primer is not None:
            st.min_onset = primer.end
        return st

    prefix = run.prefix(bpm) if primer_ids else run.prefix()
    for i, tok, note in run.notes(options, [prefix + primer_ids] * n, bars * TOKENS_PER_BAR_LIMIT, make_state):
        ids[i].append(tok)
        if note is not None:
            notes[i].append(note)
    out = []
    for i, st in enumerate(run.states):
        end = st.end_beat
        body = [replace(nt, duration=round(min(nt.end, end) - nt.start, 6))
                for nt in notes[i] if nt.start < end - 1e-9]
        if primer is not None:  # the primer itself, unchanged, then the continuation
            body = [nt for nt in body if nt.start >= primer.end - 1e-9]
            body = list(primer.notes) + body
        key_tok = next((t for t in ids[i] if codec.types[t] == "Key"), run.forced.get("Key"))
        out.append(GeneratedPiece(
            notes=sorted(body),
            bars=max(st.bar + 1, 1),
            time_signature=(st.time_signatures[0][1], st.time_signatures[0][2]) if st.time_signatures
            else (primer.time_signature if primer else (4, 4)),
            tempo=float(bpm),
            program=run.program(program),
            key=codec.token_of(key_tok).split("_", 1)[1].replace("_", " ") if key_tok is not None else "",
            seed=run.seed,
            primer_notes=len(primer.notes) if primer else 0,
            meta={"model": run.ckpt.name, "tokens": len(ids[i]), "index": i},
        ))
    return out


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
    codec = load_model(checkpoint).codec
    p = Primer(sorted(primer)) if primer else None
    key_index = find_key(p.notes)[0] if p and not options.key else None
    run = start_sampling(checkpoint, options, None, key_index, quantize)
    primer_ids = codec.music_ids(codec.encode_score(p.to_score())) if p else []
    prefix = run.prefix((p.tempo if p else None) or run.default_tempo) if primer_ids else run.prefix()

    def make_state() -> RemiState:
        st = run.track(RemiState(codec, options, None if bars is None else (p.bars if p else 0) + bars))
        st.min_onset = p.end if p else 0.0
        return st

    limit = 10**12 if bars is None else bars * TOKENS_PER_BAR_LIMIT
    for _, _, note in run.notes(options, [prefix + primer_ids], limit, make_state,
                                reset_every=4096 if bars is None else 0):
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
    melody = top_line(primer.notes)
    key_index = None if options.key else find_key(melody)[0]
    run = start_sampling(checkpoint, options, tempo or primer.tempo, key_index, quantize)
    codec = run.codec
    ts_name = f"TimeSig_{primer.time_signature[0]}/{primer.time_signature[1]}"

    def make_state() -> HarmonizeState:
        # four voices (melody + three) unless asked otherwise: the chorale texture
        # the lower voices keep to the melody's key (its own notes may leave it)
        key = options.key or (key_name(key_index) if key_index is not None else None)
        opts = replace(options, key=key, max_polyphony=options.max_polyphony or 4)
        st = run.track(HarmonizeState(codec, opts, melody, primer.bars))
        if ts_name in codec.controls or ts_name in codec.tok.vocab:
            st.ts_id = codec.id_of(ts_name)
        return st

    notes = [note for _, _, note in run.notes(options, [run.prefix()], primer.bars * TOKENS_PER_BAR_LIMIT,
                                              make_state) if note is not None]
    st = run.states[0]
    assert isinstance(st, HarmonizeState)
    onsets = {(round(st.grid(m.start), 6), m.pitch) for m in melody}
    end = primer.bars * primer.bar_beats
    lower = [replace(n, duration=round(min(n.end, end) - n.start, 6)) for n in notes
             if (round(n.start, 6), n.pitch) not in onsets and n.start < end - 1e-9]
    bpm = tempo or primer.tempo or run.default_tempo
    return GeneratedPiece(
        notes=sorted(list(melody) + lower),
        bars=primer.bars,
        time_signature=primer.time_signature,
        tempo=float(bpm),
        program=run.program(program),
        key=key_name(key_index) if key_index is not None else str(options.key),
        seed=run.seed,
        primer_notes=len(melody),
        meta={"model": run.ckpt.name, "mode": "harmonize", "melody_notes_written": st.idx},
    )
