"""Best of K: sample K candidates per piece and keep the one whose harmony analysis scores best.

:func:`choose_best` picks among sampled candidates: the best of each group of
``best_of`` by :func:`composer.harmony.analysis_score` (the first on ties).
:func:`write_best` is what ``composer generate`` runs: check the output folder,
sample ``n * best_of`` candidates in one batch, choose, and write the kept pieces
as new ``MODEL-NNN.mid`` files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from composer.config import MAX_SEED, SampleOptions
from composer.generation.pieces import harmonizations, sample_pieces
from composer.generation.primer import Primer
from composer.generation.setup import GeneratedPiece, check_out_dir, load_model, next_paths
from composer.harmony import Analysis, analysis_score, analyze_notes
from composer.voicegrid import VoiceGridCodec

MAX_BATCH = 256  # candidates sampled together at most (the sampler's limit)


@dataclass
class Selection:
    """The kept pieces, and the analysis behind each choice."""

    pieces: list[GeneratedPiece]  # one per requested piece
    scores: dict[int, list[float]] = field(default_factory=dict)  # piece -> every candidate's score
    analyses: dict[int, tuple[Analysis, float]] = field(default_factory=dict)  # piece -> (analysis, score) kept
    paths: list[Path] = field(default_factory=list)  # where :func:`write_best` wrote the pieces


def analyze_piece(piece: GeneratedPiece) -> tuple[Analysis, float]:
    """The harmony analysis of a generated piece and its one-number score (higher is better).

    A four-voice piece is analysed voice by voice (its tracks), a one-stream piece split by pitch.
    """
    notes = piece.voices if piece.voices is not None else piece.notes
    a = analyze_notes(notes, time_signature=piece.time_signature, name=piece.meta.get("model", ""))
    return a, analysis_score(a)


#: Candidates per piece when none is asked: four-voice (SATB) models choose among 4 by the harmony
#: analysis.  On 100 bundled-chorale pieces (seed 1) that took authentic final cadences from 37% to
#: 87% (Bach's whole chorales: 88%) and cost about 1.5 s a piece; one-stream models keep 1.
DEFAULT_BEST_OF_SATB = 4


def default_best_of(checkpoint: str | Path | None = None) -> int:
    """How many candidates per piece ``composer generate`` / ``continue`` sample for this model by default."""
    return DEFAULT_BEST_OF_SATB if isinstance(load_model(checkpoint).codec, VoiceGridCodec) else 1


def choose_best(candidates: list[GeneratedPiece], n: int, best_of: int, analyze: bool = False) -> Selection:
    """Keep the best-scoring piece of each group of ``best_of`` consecutive candidates.

    With ``best_of == 1`` and no ``analyze`` nothing is analyzed and the candidates are kept as they are.
    """
    out = Selection([])
    for i in range(n):
        group = candidates[i * best_of : (i + 1) * best_of]
        if best_of > 1 or analyze:
            results = [analyze_piece(p) for p in group]
            best = max(range(len(group)), key=lambda j: results[j][1])
            out.scores[i] = [r[1] for r in results]
            out.analyses[i] = results[best]
            out.pieces.append(group[best])
        else:
            out.pieces.append(group[0])
    return out


def best_continuation(
    primer: Primer,
    checkpoint: str | Path | None = None,
    *,
    best_of: int = 1,
    voices: bool = False,
    bars: int = 8,
    options: SampleOptions = SampleOptions(),
    tempo: float | None = None,
    program: int | None = None,
    quantize: bool = True,
) -> Selection:
    """The best of ``best_of`` continuations (or, with ``voices``, harmonizations) of a primer.

    Harmonizing with several candidates is how the lower voices get to know where the melody
    goes: each candidate is written step by step, and the analysis of the whole (key, voice
    leading, the final cadence) picks the one that fits the melody's future best.
    """
    if voices:
        cands = harmonizations(primer, checkpoint, n=best_of, options=options, tempo=tempo, program=program,
                               quantize=quantize)
    else:
        cands = sample_pieces(checkpoint, n=best_of, bars=primer.bars + bars, options=options, tempo=tempo,
                              program=program, primer=primer, quantize=quantize)
    return choose_best(cands, 1, best_of)


def write_best(
    out_dir: Path,
    checkpoint: str | Path | None = None,
    *,
    n: int = 1,
    best_of: int = 1,
    bars: int = 16,
    options: SampleOptions = SampleOptions(),
    tempo: float | None = None,
    program: int | None = None,
    quantize: bool = True,
    analyze: bool = False,
) -> Selection:
    """Sample ``n * best_of`` candidates, keep the best of each ``best_of``, write them.

    Candidates are sampled in batches of at most :data:`MAX_BATCH` (the whole set in one batch
    when it fits, so ``n * best_of <= 256`` behaves as it always has); batch ``k`` after the
    first uses the seed ``seed + k``.

    The kept pieces become new ``MODEL-NNN.mid`` files in ``out_dir`` (:attr:`Selection.paths`).
    The folder is checked (created, writable) before sampling, so a user does not wait to learn
    it.  The other parameters are those of :func:`~composer.generation.pieces.sample_pieces`;
    ``analyze`` analyzes the kept pieces even when there is nothing to choose (``best_of == 1``).

    Raises
    ------
    OutputError
        If ``out_dir`` is a file or cannot be created or written.
    """
    check_out_dir(out_dir)
    per_batch = max(1, MAX_BATCH // best_of)  # pieces whose candidates fit in one batch
    cands: list[GeneratedPiece] = []
    for k, first in enumerate(range(0, n, per_batch)):  # batch k after the first: seed + k
        opts = options if k == 0 or options.seed is None else replace(options, seed=(options.seed + k) % (MAX_SEED + 1))
        cands += sample_pieces(checkpoint, n=min(per_batch, n - first) * best_of, bars=bars, options=opts,
                               tempo=tempo, program=program, quantize=quantize)
    sel = choose_best(cands, n, best_of, analyze)
    stem = sel.pieces[0].meta.get("model", "piece")
    paths = next_paths(out_dir, stem, n)
    sel.paths = [piece.write(path) for path, piece in zip(paths, sel.pieces, strict=True)]
    return sel
