"""Best of K: sample K candidates per piece and keep the one whose harmony analysis scores best.

:func:`choose_best` picks among sampled candidates: the best of each group of
``best_of`` by :func:`composer.harmony.analysis_score` (the first on ties), with the judgement
of the model's style model where it has one (:func:`style_model`).
:func:`write_best` is what ``composer generate`` runs: check the output folder,
sample ``n * best_of`` candidates in one batch, choose, and write the kept pieces
as new ``MODEL-NNN.mid`` files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path

from composer.audio import AUDIO_FORMATS, find_fluidsynth, find_soundfont, render
from composer.config import MAX_SEED
from composer.errors import InputError, OutputError
from composer.files import refuse_overwrite
from composer.generation.dynamics import humanize
from composer.generation.harmonizer import check_melody, primer_melody
from composer.generation.pieces import harmonizations, harmonize, sample_pieces
from composer.generation.primer import Primer, parse_primer
from composer.generation.record import (
    Request,
    chosen_of,
    file_hash,
    make_record,
    notes_hash,
    primer_of,
    primer_source,
    read_record,
    request_of,
    with_record,
    write_sidecar,
)
from composer.generation.setup import GeneratedPiece, check_out_dir, draw_seed, load_model, next_paths
from composer.harmony import (
    EXCERPT_BARS,
    Analysis,
    StyleModel,
    analysis_score,
    analyze_notes,
    ending_value,
    separate_voices,
    voice_names,
    write_voices_xml,
)
from composer.keys import parse_key
from composer.voicegrid import VOICE_NAMES, VoiceGridCodec

MAX_BATCH = 256  # candidates sampled together at most (the sampler's limit)


@dataclass
class Selection:
    """The kept pieces, and the analysis behind each choice."""

    pieces: list[GeneratedPiece]  # one per requested piece
    scores: dict[int, list[float]] = field(default_factory=dict)  # piece -> every candidate's score
    analyses: dict[int, tuple[Analysis, float]] = field(default_factory=dict)  # piece -> (analysis, score) kept
    chosen: dict[int, int] = field(default_factory=dict)  # piece -> the kept candidate's place in its group
    paths: list[Path] = field(default_factory=list)  # where :func:`write_best` wrote the pieces


#: Added to a candidate's score when the analysis hears the key the piece was written in (asked for,
#: or drawn): a piece asked in D minor that sounds in F major is not what was asked.
KEY_MATCH = 0.2


#: The weight of a style model's logit in a candidate's score (minus: a positive logit says "unlike the
#: corpus").  Plain weighting traded final cadences away (authentic finals 84 -> 77%, seed 1), so the
#: style model only chooses among the candidates with the best final cadence (:func:`pick`).  Chosen on
#: the validation split's chorales (not the test split the benchmark reports) among 0 / 0.05 / 0.1 / 0.2
#: / 0.3 / 0.5, by a rule fixed beforehand (the lowest style AUC keeping the key heard >= 95% and the
#: authentic finals >= 80% in every run, gaining on 0.1 by more than its standard error): 0.5, style
#: AUC 0.820 -> 0.813 (+-0.004) over nine runs against 0.1; on the test split 0.698 -> 0.697 (+-0.002,
#: within the noise).  At 0.5 the style term spreads about five times the analysis's score among a
#: piece's candidates (logits range 2.5, scores 0.25): within the best endings the style model mostly
#: decides.  Measured in benchmarks/RESULTS.md ("The style weight chosen on the validation split").
STYLE_WEIGHT = 0.5
STYLE_FILE = "style.json"  # beside a model's weights: a :class:`~composer.harmony.StyleModel`


@functools.lru_cache(maxsize=8)
def _style_model(weights: Path) -> StyleModel | None:
    path = weights.parent / STYLE_FILE
    return StyleModel.read(path) if path.is_file() else None


def style_model(checkpoint: str | Path | None) -> StyleModel | None:
    """The model's style model (``style.json`` beside its weights: ``benchmarks/build_style_model.py``), if any.

    Raises
    ------
    CheckpointError
        When the file is there but is not a style model of this composer's features.
    """
    return _style_model(load_model(checkpoint).path)


def analyze_piece(piece: GeneratedPiece, style: StyleModel | None = None) -> tuple[Analysis, float]:
    """The harmony analysis of a generated piece and its one-number score (higher is better).

    A four-voice piece is analysed voice by voice (its tracks), a one-stream piece split by pitch.
    The score is :func:`~composer.harmony.analysis_score`, plus :data:`KEY_MATCH` when the key
    the analysis finds is the piece's own, minus :data:`STYLE_WEIGHT` times ``style``'s logit.
    """
    notes = piece.voices if piece.voices is not None else piece.notes
    a = analyze_notes(notes, time_signature=piece.time_signature, name=piece.meta.get("model", ""))
    heard = bool(piece.key) and parse_key(piece.key) == parse_key(a.key.name)
    score = analysis_score(a) + (KEY_MATCH if heard else 0.0)
    if style is not None:
        bar_beats = piece.time_signature[0] * 4 / piece.time_signature[1]
        score -= STYLE_WEIGHT * style.logit(a, piece.bars * bar_beats, bar_beats)
    return a, score


#: Candidates per piece when none is asked: four-voice (SATB) models choose among 4 by the harmony
#: analysis.  On 100 bundled-chorale pieces (seed 1) that took authentic final cadences from 37% to
#: 87% (Bach's whole chorales: 88%) and cost about 1.5 s a piece; one-stream models keep 1.
DEFAULT_BEST_OF_SATB = 4


MAX_BEST_OF = 256  # candidates per piece at most (--best-of, the Python API's best_of)


def default_best_of(checkpoint: str | Path | None = None) -> int:
    """How many candidates per piece ``composer generate`` / ``continue`` sample for this model by default."""
    return DEFAULT_BEST_OF_SATB if isinstance(load_model(checkpoint).codec, VoiceGridCodec) else 1


def best_of_for(best_of: int | None, checkpoint: str | Path | None, name: str = "best_of") -> int:
    """``best_of``, or the model's default when None; a ``ValueError`` naming ``name`` outside 1..MAX_BEST_OF."""
    k = default_best_of(checkpoint) if best_of is None else best_of
    if not 1 <= k <= MAX_BEST_OF:
        raise ValueError(f"{name} must be in 1..{MAX_BEST_OF}, got {k}")
    return k


def pick(scores: list[float], endings: list[float] | None = None) -> int:
    """The kept candidate: the best score (the first on ties).

    With ``endings`` (:func:`~composer.harmony.ending_value`), only among the candidates whose final
    cadence is the group's best: a style model chooses between equally good endings and never trades
    a better one away.
    """
    pool = range(len(scores)) if endings is None else [j for j, e in enumerate(endings) if e == max(endings)]
    return max(pool, key=lambda j: scores[j])


def choose_best(candidates: list[GeneratedPiece], n: int, best_of: int, analyze: bool = False,
                style: StyleModel | None = None) -> Selection:
    """Keep the best-scoring piece of each group of ``best_of`` consecutive candidates (:func:`analyze_piece`).

    With ``best_of == 1`` and no ``analyze`` nothing is analyzed and the candidates are kept as they are.
    """
    out = Selection([])
    for i in range(n):
        group = candidates[i * best_of : (i + 1) * best_of]
        if best_of > 1 or analyze:
            results = [analyze_piece(p, style) for p in group]
            # the style model reads 8-bar excerpts: on shorter pieces it says nothing, and the cadence guard
            # that goes with it stays off
            judged = style is not None and all(p.bars >= EXCERPT_BARS for p in group)
            endings = [ending_value(r[0]) for r in results] if judged else None
            best = pick([r[1] for r in results], endings)
            out.scores[i] = [r[1] for r in results]
            out.analyses[i] = results[best]
            out.chosen[i] = best
            out.pieces.append(group[best])
        else:
            out.pieces.append(group[0])
    return out


def best_continuation(primer: Primer, request: Request) -> Selection:
    """The best of ``request.best_of`` continuations (or, with ``voices``, harmonizations) of a primer.

    Harmonizing with several candidates is how the lower voices get to know where the melody
    goes: each candidate is written step by step, and the analysis of the whole (key, voice
    leading, the final cadence) picks the one that fits the melody's future best.  With one
    candidate nothing is analysed.
    """
    return choose_best(continuation_candidates(primer, request), 1, request.best_of,
                       style=style_model(request.checkpoint) if request.best_of > 1 else None)


def continuation_candidates(primer: Primer, request: Request) -> list[GeneratedPiece]:
    """The ``request.best_of`` continuations (or harmonizations) :func:`best_continuation` chooses among."""
    r = request
    if r.voices and r.best_of == 1:
        cands = [harmonize(primer, r.checkpoint, options=r.options, tempo=r.tempo, program=r.program,
                           quantize=r.quantize)]
    elif r.voices:
        cands = harmonizations(primer, r.checkpoint, n=r.best_of, options=r.options, tempo=r.tempo, program=r.program,
                               quantize=r.quantize)
    else:
        cands = sample_pieces(r.checkpoint, n=r.best_of, bars=primer.bars + r.bars, options=r.options, tempo=r.tempo,
                              program=r.program, primer=primer, quantize=r.quantize)
    return cands


def write_score_xml(piece: GeneratedPiece, midi_path: Path, force: bool = False) -> Path:
    """Write ``piece`` as MusicXML beside its MIDI file (``NAME.musicxml``): one staff per voice.

    A four-voice piece keeps its voices; a one-stream piece is split into voices by pitch, as
    ``composer analyze`` splits one track.
    """
    if piece.voices is not None:
        voices, names = piece.voices, list(VOICE_NAMES)
    else:
        voices = separate_voices([piece.notes])[0]
        names = voice_names(len(voices))
    return write_voices_xml(voices, names, midi_path.with_suffix(".musicxml"), key_name=piece.key or piece.found_key,
                            time_signature=piece.time_signature, title=midi_path.stem, force=force,
                            fermatas=piece.written_fermatas)


def sample_best(request: Request, analyze: bool = False) -> Selection:
    """Sample ``n * best_of`` candidates and keep the best of each ``best_of`` (nothing written).

    ``request.options.seed`` must be set (:func:`write_best` draws one when the user gave none).
    Candidates are sampled in batches of at most :data:`MAX_BATCH` (the whole set in one batch
    when it fits); batch ``k`` after the first uses the seed ``seed + k``.  ``analyze``
    analyzes the kept pieces even when there is nothing to choose (``best_of == 1``).
    """
    style = style_model(request.checkpoint) if request.best_of > 1 else None
    return choose_best(sample_candidates(request), request.n, request.best_of, analyze, style)


def sample_candidates(request: Request) -> list[GeneratedPiece]:
    """The ``n * best_of`` candidates :func:`sample_best` chooses among, in its batches and seeds."""
    cands: list[GeneratedPiece] = []
    for _, part in _batches(request):
        cands += sample_pieces(part.checkpoint, n=part.n * part.best_of, bars=part.bars, options=part.options,
                               tempo=part.tempo, program=part.program, quantize=part.quantize)
    return cands


def _batches(request: Request) -> list[tuple[int, Request]]:
    """How ``request`` is sampled: (index of its first piece, the request for that batch).

    As many pieces per batch as fit :data:`MAX_BATCH` candidates; batch ``k`` uses the seed
    ``seed + k`` (batch 0 the seed itself), so :func:`regenerate` can sample one batch alone.
    """
    seed = request.options.seed
    if seed is None:
        raise ValueError("sampling in batches needs a seed (write_best draws one)")
    per_batch = max(1, MAX_BATCH // request.best_of)  # pieces whose candidates fit in one batch
    return [(first, replace(request, n=min(per_batch, request.n - first),
                            options=replace(request.options, seed=(seed + k) % (MAX_SEED + 1))))
            for k, first in enumerate(range(0, request.n, per_batch))]


def _check_outputs(path: Path | None, *, force: bool, musicxml: bool, audio: tuple[str, ...]) -> None:
    """Before sampling: the files beside ``path`` that will be written are free, FluidSynth is there."""
    for kind in audio:
        if kind not in AUDIO_FORMATS:
            raise InputError(f"audio format must be one of {', '.join(AUDIO_FORMATS)}, got {kind!r}")
    if path is not None:
        for name in (path, path.with_suffix(".json"), *([path.with_suffix(".musicxml")] if musicxml else []),
                     *(path.with_suffix("." + kind) for kind in audio)):
            refuse_overwrite(name, force)
    if audio:
        find_fluidsynth()
        find_soundfont()


def _seeded(request: Request) -> Request:
    """``request`` with its seed drawn now if none was given (so every batch's seed is recorded)."""
    return replace(request, options=replace(request.options, seed=draw_seed(request.options.seed)))


def _finished(piece: GeneratedPiece, request: Request) -> GeneratedPiece:
    """The piece as written: with ``--humanize``, its velocities shaped (before its record is made)."""
    return humanize(piece) if request.humanize else piece


def _extras(piece: GeneratedPiece, path: Path, musicxml: bool, audio: tuple[str, ...], force: bool = False) -> None:
    if musicxml:
        write_score_xml(piece, path, force=force)
    for kind in audio:
        render(path, path.with_suffix("." + kind), force=force)


def write_best(out_dir: Path, request: Request, *, analyze: bool = False, musicxml: bool = False,
               audio: tuple[str, ...] = ()) -> Selection:
    """Sample as :func:`sample_best` does and write the kept pieces with their records.

    The kept pieces become new ``MODEL-NNN.mid`` files in ``out_dir`` (:attr:`Selection.paths`; an ``out_dir``
    named ``*.mid`` is the one piece's file itself), written as each batch of :data:`MAX_BATCH` candidates ends,
    each with its generation record (a marker in the file and ``MODEL-NNN.json`` beside it, see
    :mod:`composer.generation.record`); ``musicxml`` also writes each as ``MODEL-NNN.musicxml``,
    ``audio`` (``("wav",)``, ``("flac",)`` or both) renders each to ``MODEL-NNN.wav`` / ``.flac``
    (:func:`composer.audio.render`).  The folder (and
    the synthesizer) are checked before sampling, so a user does not wait to learn of them.

    Raises
    ------
    OutputError
        If ``out_dir`` is a file or cannot be created or written.
    """
    single = out_dir.suffix.lower() in (".mid", ".midi")  # -o piece.mid: that one file
    if single and request.n != 1:
        raise InputError(f"{out_dir} names one file, and {request.n} pieces were asked for: give a folder")
    folder = out_dir.parent if single else out_dir
    created = not folder.exists()
    check_out_dir(folder)
    _check_outputs(out_dir if single else None, force=False, musicxml=musicxml, audio=audio)  # (new names: free)
    request = _seeded(request)
    style = style_model(request.checkpoint) if request.best_of > 1 else None
    model_path = load_model(request.checkpoint).path
    sel, paths = Selection([]), list[Path]()
    try:  # batch by batch (as sample_best samples them): each batch's pieces are written when it ends
        for first, part in _batches(request):
            got = choose_best(sample_candidates(part), part.n, part.best_of, analyze, style)
            if not paths:
                paths = [out_dir] if single else next_paths(out_dir, got.pieces[0].meta.get("model", "piece"),
                                                            request.n)
            sel.scores.update({first + j: v for j, v in got.scores.items()})  # (the batch's pieces, renumbered)
            sel.analyses.update({first + j: v for j, v in got.analyses.items()})
            sel.chosen.update({first + j: v for j, v in got.chosen.items()})
            for j, piece in enumerate(got.pieces):
                i = first + j
                piece = _finished(piece, request)
                sel.pieces.append(piece)
                rec = make_record("generate", piece, request, model_path=model_path, index=i, file=paths[i].name,
                                  chosen=sel.chosen.get(i))
                sel.paths.append(with_record(piece, rec).write(paths[i]))
                write_sidecar(rec, paths[i])
                _extras(piece, paths[i], musicxml, audio)
    except BaseException:  # a bad option found while sampling, or Ctrl+C: the pieces written stay, no empty folder
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    return sel


def write_continuation(primer: Primer, source: str | Path, path: Path, request: Request, *, force: bool = False,
                       musicxml: bool = False, audio: tuple[str, ...] = (), chosen: Selection | None = None
                       ) -> GeneratedPiece:
    """Continue ``primer`` (parsed from ``source``: a MIDI file or a typed melody); write it and its record.

    ``chosen``, if given, gets the choice among the candidates (their scores, the kept one's place).
    """
    _check_outputs(path, force=force, musicxml=musicxml, audio=audio)
    if isinstance(load_model(request.checkpoint).codec, VoiceGridCodec):  # the melody becomes the soprano
        check_melody(primer_melody(primer, request.options.held_melody), request.options.key_index)
    request = _seeded(request)
    sel = best_continuation(primer, request)
    piece = _finished(sel.pieces[0], request)
    if chosen is not None:
        chosen.scores.update(sel.scores)
        chosen.chosen.update(sel.chosen)
        chosen.analyses.update(sel.analyses)
    rec = make_record("continue", piece, request, model_path=load_model(request.checkpoint).path, index=0,
                      file=path.name, primer=primer_source(source, primer), chosen=sel.chosen.get(0))
    with_record(piece, rec).write(path, force=force)
    write_sidecar(rec, path, force=force)
    _extras(piece, path, musicxml, audio, force)
    return piece


def regenerate(record_path: str | Path, out: Path, *, force: bool = False, musicxml: bool = False,
               audio: tuple[str, ...] = ()) -> tuple[Path, GeneratedPiece]:
    """Write the piece a record describes again, byte for byte (``composer generate --again``).

    ``out`` is a ``.mid`` file, or a folder that gets the record's own file name.  The batch the
    piece came from is sampled again (see :mod:`composer.generation.record` for why), with the
    recorded model, whose weights must hash the same.  ``musicxml`` and ``audio`` also write the
    score and the audio, as :func:`write_best` does.

    Raises
    ------
    InputError
        If the file holds no record, or the model (or a MIDI primer) is not the recorded one.
    OutputError
        If the output exists and ``force`` is false.
    """
    rec = read_record(record_path)
    request = request_of(rec)
    path = out if out.suffix.lower() in (".mid", ".midi") else out / Path(str(rec["file"])).name
    _check_outputs(path, force=force, musicxml=musicxml, audio=audio)
    ckpt = load_model(request.checkpoint)
    if file_hash(ckpt.path) != rec["model"]["sha256"]:
        raise InputError(f"model {request.checkpoint or ckpt.name!r} is not the recorded one (its weights' SHA-256 "
                         f"differs from {str(rec['model']['sha256'])[:12]}...): the piece cannot be made again")
    chosen = chosen_of(rec, request)  # None: a record from before it was kept, chosen again by the analysis
    if rec["command"] == "continue":
        primer = parse_primer(primer_of(rec))
        piece = (best_continuation(primer, request).pieces[0] if chosen is None
                 else continuation_candidates(primer, request)[chosen])
    else:  # only the batch the piece was in
        index = rec["batch"]["index"]
        first, part = next((f, b) for f, b in reversed(_batches(request)) if f <= index)
        piece = (sample_best(part).pieces[index - first] if chosen is None
                 else sample_candidates(part)[(index - first) * part.best_of + chosen])
    piece = _finished(piece, request)
    if rec.get("notes_sha256") not in (None, notes_hash(piece)):
        raise OutputError(f"the replay of {record_path} came out different (the record edited, or another composer, "
                          f"torch or CPU than composer {rec['composer']}'s?): nothing written")
    if not path.parent.exists():
        check_out_dir(path.parent)
    with_record(piece, rec).write(path, force=force)
    write_sidecar(rec, path, force=force)
    _extras(piece, path, musicxml, audio, force)
    return path, piece
