"""What every sampling run shares: the model, the seed, the controls, the stepper, and the pieces' form.

:class:`Sampling` is the set-up of one run (:func:`start_sampling`); :class:`GeneratedPiece` is
what a run returns, on a beat timeline, one track of merged voices or one track per voice
(four-voice models); output paths follow the overwrite rule of :mod:`composer.files`.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from composer.checkpoint import Checkpoint, load_checkpoint
from composer.config import SampleOptions
from composer.errors import InputError, OutputError
from composer.events import Note
from composer.files import refuse_overwrite
from composer.generation.grammar import RemiState
from composer.generation.harmonizer import primer_melody
from composer.generation.primer import Primer, PrimerTrack
from composer.generation.sampler import (
    Model,
    NumpyUniforms,
    Rows,
    StreamState,
    TorchUniforms,
    Uniforms,
    sample_streams,
)
from composer.generation.stepper import Stepper, quantize_model
from composer.inference import ArrayLSTM
from composer.keys import find_key, key_name, key_signature, parse_key
from composer.midifile import FERMATA_MARKER, score_from_notes, score_from_voices, write_score
from composer.voicegrid import VOICE_NAMES, VoiceGridCodec
from composer.voicemotion import voice_tables

if TYPE_CHECKING:
    import pretty_midi
    import torch
    from symusic import Score

    from composer.codec import AnyCodec


State = TypeVar("State", bound=RemiState)


def _notes(k: int) -> str:
    return f"{k} note" if k == 1 else f"{k} notes"


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
    voices: list[list[Note]] | None = None  # soprano, alto, tenor, bass, for four-voice models
    primer_tracks: tuple[PrimerTrack, ...] = ()  # a multitrack primer's tracks, written as they were
    tpq: int = 480  # ticks per quarter of the written file (a MIDI primer's own resolution divides it)

    @property
    def found_key(self) -> str:
        """Key found in the notes (Krumhansl-Schmuckler)."""
        return key_name(find_key(self.notes)[0])

    def primer_summary(self, primer: Primer, held: bool = True) -> str:
        """What became of ``primer`` in this piece, in one line for the user.

        A continuation keeps every primer note (in the primer's own tracks and metre); a
        harmonization, or a four-voice model, keeps the primer's top line as the melody and
        writes the parts beneath it anew (the melody read as the piece read it: ``held`` is its
        ``SampleOptions.held_melody``).
        """
        total = len(primer.notes)
        head = f"primer: {primer.bars} bar(s), {total} notes"
        if self.primer_notes >= total:
            where = f" in {len(primer.tracks)} tracks" if self.primer_tracks else ""
            said = f"{head}{where}, kept unchanged at the start"
        else:
            own, line = set(primer.notes), primer_melody(primer, held)
            cut = sum(1 for n in line if n not in own)  # shortened to keep one line
            voice = next((t.name or "a track" for t in primer.tracks if sorted(t.notes) == line), None)
            what = f"its top voice ({voice}, {_notes(self.primer_notes)})" if voice else \
                f"its top line ({_notes(self.primer_notes)})"
            said = (f"{head}: {what} kept as the melody"
                    + (f" ({cut} cut where the next note starts)" if cut else "")
                    + f"; new harmony beneath it replaces its other {_notes(total - self.primer_notes)}")
        if k := self.meta.get("phrase_ends", 0):  # (a four-voice model's: each a fermata chord)
            said += (f"; its {k} phrase ends (fermatas) harmonized as fermata chords" if k > 1 else
                     "; its phrase end (a fermata) harmonized as a fermata chord")
        if primer.drum_notes:
            said += f"; its {_notes(primer.drum_notes)} on drum tracks are left out (the model writes no drums)"
        if "model_metre" in self.meta:
            meter = f"{primer.time_signature[0]}/{primer.time_signature[1]}"
            said += f"; the model writes {self.meta['model_metre']} bars, the file keeps the primer's {meter}"
        return said

    def to_score(self) -> Score:
        """The piece as a ``symusic.Score`` (type-1 MIDI when written).

        One track of merged voices, or, for four-voice models, one named track per voice
        (Soprano, Alto, Tenor, Bass) with the key signature, as a score editor expects.  A
        generation record (``meta["record"]``, see :mod:`composer.generation.record`) becomes a
        marker event at time 0, and a four-voice piece's fermatas (its phrase ends) markers named
        ``fermata`` at their onsets, as the corpus writes them (a primer reads them back; not in a
        piece sampled with ``SampleOptions.phrase_ends`` off, as the records from before it were).
        """
        from symusic import TextMeta

        score = self._score()
        if "record" in self.meta:
            score.markers.append(TextMeta(0, str(self.meta["record"])))
        for t in self.written_fermatas:
            score.markers.append(TextMeta(round(t * self.tpq), FERMATA_MARKER))
        return score

    @property
    def written_fermatas(self) -> list[float]:
        """The fermatas (onsets, beats) its files show.

        A four-voice piece's, unless sampled with ``SampleOptions.phrase_ends`` off (as the records from
        before it replay).
        """
        if self.voices is None or not self.meta.get("write_fermatas"):
            return []
        return [float(t) for t in self.meta.get("fermatas", ())]

    def _score(self) -> Score:
        if self.voices is not None:
            key = key_signature(parse_key(self.key)) if self.key else None
            return score_from_voices(self.voices, VOICE_NAMES, tempo=self.tempo, time_signature=self.time_signature,
                                     key_signature=key, program=self.program, tpq=self.tpq)
        name = self.meta.get("model", "composer")
        if self.primer_tracks:  # the primer's own tracks, then the continuation in the model's track
            score = score_from_notes([], tempo=self.tempo, time_signature=self.time_signature, tpq=self.tpq)
            score.tracks.clear()
            for i, t in enumerate(self.primer_tracks):
                score.tracks.append(score_from_notes(t.notes, program=t.program, tpq=self.tpq,
                                                     name=t.name or f"primer {i + 1}").tracks[0])
            score.tracks.append(score_from_notes(self.notes[self.primer_notes:], program=self.program,
                                                 tpq=self.tpq, name=name).tracks[0])
            return score
        score = score_from_notes(self.notes, tempo=self.tempo, time_signature=self.time_signature,
                                 program=self.program, name=name, tpq=self.tpq)
        if self.key:  # the key asked for or chosen, as a key-signature meta event (as the four voices' files have)
            from symusic import KeySignature

            score.key_signatures.append(KeySignature(0, *key_signature(parse_key(self.key))))
        return score

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


#: The characters an output file's stem may keep; anything else (a path separator, "..") goes.
_STEM_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(name: object, fallback: str = "piece") -> str:
    """A file-name stem made only of ``[A-Za-z0-9._-]`` from an untrusted name (a checkpoint's ``name``).

    Path separators and other characters become ``_``; leading dots go (no ``..``, no hidden
    files); the result is at most 64 characters, and ``fallback`` when nothing is left.
    """
    stem = _STEM_UNSAFE.sub("_", str(name)).lstrip("._-")[:64]
    return stem or fallback


def next_paths(out_dir: Path, stem: str, count: int) -> list[Path]:
    """``count`` new file names ``STEM-NNN.mid`` after the highest already in ``out_dir``.

    ``stem`` is made safe (:func:`safe_stem`) and every path is checked to lie directly in ``out_dir``.
    """
    stem = safe_stem(stem)
    # any file of a number counts (a record, score or audio left without its .mid): never write over one
    pattern = re.compile(rf"^{re.escape(stem)}-(\d+)\.[A-Za-z0-9]+$")
    taken = [int(m.group(1)) for p in out_dir.glob(f"{stem}-*") if (m := pattern.match(p.name))]
    start = max(taken, default=0) + 1
    paths = [out_dir / f"{stem}-{start + i:03d}.mid" for i in range(count)]
    for path in paths:
        if path.parent != out_dir or os.path.dirname(os.path.normpath(path)) != os.path.normpath(out_dir):
            raise OutputError(f"output name {path.name!r} would leave the output folder {out_dir}")
    return paths


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


#: How a run computes the LSTM: ``torch`` (int8 or fp32, as ``quantize`` says: the file sampler,
#: fastest in batches, what records replay) or ``numpy`` (fp32 :class:`~composer.inference.ArrayLSTM`,
#: no torch import: the live player's, first note a second or two sooner).
ENGINES = ("torch", "numpy")


def _model_for(checkpoint: str | None, quantize: bool, engine: str) -> Model:
    """A fresh stepper (its own LSTM state) over the cached weights."""
    if engine == "numpy":
        return _array_model(checkpoint).fresh()
    if engine != "torch":
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    return Stepper(_stepper_model(checkpoint, quantize))


@functools.lru_cache(maxsize=4)
def _array_model(checkpoint: str | None) -> ArrayLSTM:
    ckpt = _load(checkpoint)
    tables = voice_tables(ckpt.codec.types, ckpt.codec.pitch_of) if ckpt.config.motion_input else None
    return ArrayLSTM(ckpt.arrays, ckpt.config, tables)


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
    generator: Uniforms
    stepper: Model
    style: str | None  # the Style control (dropped by the codec when it has no such style)
    key_index: int | None  # the Key control the grammar must take, if any
    forced: dict[str, int]  # control type -> the id it must take
    states: list[RemiState] = field(default_factory=list)  # one per stream, in stream order

    @property
    def codec(self) -> AnyCodec:
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
              make_state: Callable[[], StreamState], reset_every: int = 0,
              regroup: Callable[[list[StreamState], Rows], None] | None = None,
              ) -> Iterator[tuple[int, int, Note | None]]:
        """:func:`~composer.generation.sampler.sample_streams` with this run's stepper and generator."""
        # measured on the grid only; None = on (harmonizing resolves it to off before it gets here)
        typed = (options.typed is not False) and isinstance(self.codec, VoiceGridCodec)
        return sample_streams(self.stepper, self.codec, prefixes, options, None, max_tokens, self.generator,
                              make_state=make_state, reset_every=reset_every, typed=typed, regroup=regroup)


def draw_seed(seed: int | None) -> int:
    """``seed``, or a fresh random one when None (recorded with the piece, so it can be reproduced)."""
    return int.from_bytes(os.urandom(4), "little") if seed is None else int(seed)


def start_sampling(checkpoint: str | Path | None, options: SampleOptions, tempo: float | None = None,
                   key_index: int | None = None, quantize: bool = True, engine: str = "torch") -> Sampling:
    """Load the model and set up a run: seed, generator, stepper and the controls.

    ``engine`` (:data:`ENGINES`): torch's model (int8 when ``quantize``) on ``torch.rand``'s uniforms,
    or the numpy LSTM on numpy's (another stream of draws for the same seed).

    ``options.style`` (else the model's corpus) picks the Style control; ``options.key``
    (else ``key_index``) forces the Key control; ``tempo`` forces the TempoBand.

    Raises
    ------
    InputError
        For a style the model does not know, or a bad key.
    """
    ckpt = load_model(checkpoint)
    codec = ckpt.codec
    seed = draw_seed(options.seed)
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
    stepper = _model_for(ref, quantize, engine)
    uniforms: Uniforms = NumpyUniforms(seed) if engine == "numpy" else TorchUniforms(seed)
    return Sampling(ckpt, seed, uniforms, stepper, style, key_index, forced)
