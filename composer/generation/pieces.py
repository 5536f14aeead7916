"""Pieces, continuations, harmonizations and endless streams from a trained model.

Every run shares one set-up (:class:`Sampling`: the model, the seed's generator,
the control tokens, the stepper) and samples with the grammar masks of
:mod:`composer.generation.grammar`, so every piece decodes to valid MIDI; a
piece ends at a bar line with every note closed.  The one-call public API
(``composer.generate`` / ``composer.continue_melody``) is in
:mod:`composer.generation.api`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.config import SampleOptions
from composer.errors import InputError
from composer.events import Note
from composer.generation.grammar import RemiState
from composer.generation.harmonizer import HarmonizeState, primer_melody
from composer.generation.primer import Primer
from composer.generation.satb import melody_key_of, sample_satb, stream_satb
from composer.generation.setup import GeneratedPiece, draw_seed, load_model, start_sampling
from composer.keys import find_melody_key, key_name
from composer.tokenizer import Codec
from composer.voicegrid import VoiceGridCodec

if TYPE_CHECKING:
    from composer.codec import AnyCodec

MAX_BARS = 1024  # longest piece one call writes
TOKENS_PER_BAR_LIMIT = 400  # safety cap on tokens per requested bar


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
    engine: str = "torch",
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
    engine : str
        ``torch`` or ``numpy`` (:data:`~composer.generation.setup.ENGINES`: the torch-free LSTM, fp32).
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
    if isinstance(codec, VoiceGridCodec):
        return _sample_voices(checkpoint, n=n, bars=bars, options=options, tempo=tempo, program=program,
                              primer=primer, quantize=quantize, engine=engine)
    key_index = None
    primer_ids: list[int] = []
    if primer is not None and primer.notes:
        if not options.key:
            key_index = find_melody_key(primer.notes)[0]  # continue in the primer's key
        primer_ids = codec.music_ids(codec.encode_score(primer.to_score()))
        tempo = tempo or primer.tempo
    run = start_sampling(checkpoint, options, tempo, key_index, quantize, engine)
    bpm = tempo or run.default_tempo
    ids: list[list[int]] = [[] for _ in range(n)]
    notes: list[list[Note]] = [[] for _ in range(n)]

    def make_state() -> RemiState:
        st = run.track(RemiState(_remi(codec), options, bars))
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
        model_metre = (st.time_signatures[0][1], st.time_signatures[0][2]) if st.time_signatures else None
        meta: dict[str, Any] = {"model": run.ckpt.name, "tokens": len(ids[i]), "index": i}
        if primer is not None and model_metre not in (None, primer.time_signature):
            meta["model_metre"] = f"{model_metre[0]}/{model_metre[1]}"  # the file keeps the primer's
        out.append(GeneratedPiece(
            notes=sorted(body),
            bars=max(st.bar + 1, 1),
            time_signature=primer.time_signature if primer is not None else (model_metre or (4, 4)),
            tempo=float(bpm),
            program=run.program(program),
            key=codec.token_of(key_tok).split("_", 1)[1].replace("_", " ") if key_tok is not None else "",
            seed=run.seed,
            primer_notes=len(primer.notes) if primer else 0,
            meta=meta,
            primer_tracks=primer.tracks if primer is not None else (),
            tpq=primer.write_tpq if primer is not None else 480,
        ))
    return out


def _remi(codec: AnyCodec) -> Codec:
    """``codec`` as a MidiTok codec (the one-stream grammar needs one)."""
    if not isinstance(codec, Codec):
        raise InputError("this model writes four voices on a grid, not one MidiTok stream")
    return codec


def _sample_voices(checkpoint: str | Path | None, *, n: int, bars: int, options: SampleOptions,
                   tempo: float | None, program: int | None, primer: Primer | None, quantize: bool,
                   engine: str = "torch") -> list[GeneratedPiece]:
    """Four-voice pieces from an SATB grid model; a primer's top line is the soprano of its bars."""
    melody = primer_melody(primer, options.held_melody) if primer is not None and primer.notes else []
    run = start_sampling(checkpoint, options, None, None, quantize, engine)
    bpm = tempo or (primer.tempo if primer else None) or run.default_tempo
    # the melody is the whole piece's (harmonized, not continued): its last note counts (SampleOptions.tune_ending)
    tune = bool(melody) and primer is not None and bars == primer.bars and options.tune_ending
    pieces = sample_satb(run, n=n, bars=bars, options=options, meter=primer.time_signature if primer else (4, 4),
                         tempo=bpm, program=program, melody=melody,
                         melody_key=melody_key_of(melody, options, ends=tune) if melody else None, tune=tune,
                         fermatas=primer.fermatas if primer is not None and options.phrase_ends else ())
    return [replace(p, tpq=primer.write_tpq) for p in pieces] if primer is not None else pieces


def harmonizations(
    primer: Primer,
    checkpoint: str | Path | None = None,
    *,
    n: int = 1,
    options: SampleOptions = SampleOptions(),
    tempo: float | None = None,
    program: int | None = None,
    quantize: bool = True,
) -> list[GeneratedPiece]:
    """``n`` harmonizations of the primer's melody (candidates for a choice by analysis).

    A four-voice model samples them as one batch; a one-stream model runs :func:`harmonize`
    with the seeds ``seed, seed + 1, ...``.
    """
    if not 1 <= n <= 256:
        raise InputError(f"number of candidates must be in 1..256, got {n}")
    if isinstance(load_model(checkpoint).codec, VoiceGridCodec):
        return _sample_voices(checkpoint, n=n, bars=primer.bars, options=options, tempo=tempo, program=program,
                              primer=primer, quantize=quantize)
    seed = draw_seed(options.seed)
    return [harmonize(primer, checkpoint, options=replace(options, seed=seed + i), tempo=tempo, program=program,
                      quantize=quantize) for i in range(n)]


def continue_notes(
    primer: Sequence[Note], bars: int, checkpoint: str | None = None,
    options: SampleOptions = SampleOptions(), engine: str = "torch",
) -> list[Note]:
    """New notes continuing ``primer`` for ``bars`` bars, on the primer's timeline (for ``jam``).

    Only what starts after the primer: a four-voice model also harmonizes the primer's bars, and those
    lower voices are not part of the answer.  ``engine`` as in :func:`sample_pieces`.
    """
    p = Primer(sorted(primer))
    piece = sample_pieces(checkpoint, n=1, bars=p.bars + bars, options=options, primer=p, engine=engine)[0]
    return [n for n in piece.notes if n.start >= p.end - 1e-9]


def stream_notes(
    checkpoint: str | None = None,
    options: SampleOptions = SampleOptions(),
    primer: Sequence[Note] | None = None,
    bars: int | None = None,
    quantize: bool = True,
    engine: str = "torch",
) -> Iterator[Note]:
    """Notes in non-decreasing start order, as the model writes them; endless when ``bars`` is None.

    A primer, if given, is not re-yielded: the stream continues after it.  ``engine`` as in
    :func:`sample_pieces` (the live player takes ``numpy``: no torch import before the first note).
    """
    codec = load_model(checkpoint).codec
    p = Primer(sorted(primer)) if primer else None
    key_index = find_melody_key(p.notes)[0] if p and not options.key else None
    run = start_sampling(checkpoint, options, None, key_index, quantize, engine)
    if isinstance(codec, VoiceGridCodec):  # the primer's melody in the soprano, four voices on from the bar after it
        melody = primer_melody(p, options.held_melody) if p else []
        total = None if bars is None else (p.bars if p else 0) + bars
        yield from stream_satb(run, options, total, options.key_index if options.key else key_index, melody,
                               p.time_signature if p else (4, 4))
        return
    primer_ids = codec.music_ids(codec.encode_score(p.to_score())) if p else []
    prefix = run.prefix((p.tempo if p else None) or run.default_tempo) if primer_ids else run.prefix()

    def make_state() -> RemiState:
        st = run.track(RemiState(_remi(codec), options, None if bars is None else (p.bars if p else 0) + bars))
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
    if isinstance(load_model(checkpoint).codec, VoiceGridCodec):  # the melody is the soprano of every bar
        return _sample_voices(checkpoint, n=1, bars=primer.bars, options=options, tempo=tempo, program=program,
                              primer=primer, quantize=quantize)[0]
    melody = primer_melody(primer, options.held_melody)
    key_index = None if options.key else find_melody_key(melody, ends=options.tune_ending)[0]  # the whole tune
    run = start_sampling(checkpoint, options, tempo or primer.tempo, key_index, quantize)
    codec = _remi(run.codec)
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
    lower: dict[tuple[float, int], Note] = {}  # one note a pitch and onset (one track: a second would be cut)
    for n in notes:
        at = (round(n.start, 6), n.pitch)
        if at not in onsets and n.start < end - 1e-9 and (at not in lower or lower[at].duration < n.duration):
            lower[at] = replace(n, duration=round(min(n.end, end) - n.start, 6))
    bpm = tempo or primer.tempo or run.default_tempo
    return GeneratedPiece(
        notes=sorted(list(melody) + list(lower.values())),
        bars=primer.bars,
        time_signature=primer.time_signature,
        tempo=float(bpm),
        program=run.program(program),
        key=key_name(key_index) if key_index is not None else str(options.key),
        seed=run.seed,
        primer_notes=len(melody),
        meta={"model": run.ckpt.name, "mode": "harmonize", "melody_notes_written": st.idx},
    )
