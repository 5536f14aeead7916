"""Generation: whole pieces, continuations, harmonizations and endless streams from a trained model.

The face of the package; callers import from here.  Inside, lowest first:

* :mod:`~composer.generation.primer`: what a continuation starts from (MIDI, tinyNotation, note names);
* :mod:`~composer.generation.grammar`: :class:`RemiState`, the REMI grammar and constraint masks;
* :mod:`~composer.generation.sampler`: logits filtering, drawing, :func:`sample_streams`;
* :mod:`~composer.generation.stepper`: :class:`Stepper` (the torch model, a token at a time), :func:`quantize_model`;
* :mod:`~composer.generation.harmonizer`: :class:`HarmonizeState`, the masks that keep a melody on top;
* :mod:`~composer.generation.setup`: the shared set-up of a run, :class:`GeneratedPiece`, output paths;
* :mod:`~composer.generation.pieces`: :func:`sample_pieces`,
  :func:`continue_notes`, :func:`stream_notes`, :func:`harmonize`;
* :mod:`~composer.generation.api`: :func:`generate` and :func:`continue_melody` (``composer.generate``);
* :mod:`~composer.generation.select`: best of K by harmony analysis score, and writing new files.

Importing it loads numpy, not torch (torch comes with the first torch model a run builds); ``import composer``
loads neither.
"""

from __future__ import annotations

from composer.generation.api import continue_melody, generate
from composer.generation.grammar import MAX_ONSET_NOTES, RemiState, Vocab
from composer.generation.harmonizer import HarmonizeState, primer_melody, top_line
from composer.generation.pieces import continue_notes, harmonizations, harmonize, sample_pieces, stream_notes
from composer.generation.primer import Primer, parse_primer
from composer.generation.record import Request, read_record
from composer.generation.sampler import NumpyUniforms, TorchUniforms, draw, filter_logits, sample_streams
from composer.generation.select import (
    STYLE_WEIGHT,
    Selection,
    analyze_piece,
    best_continuation,
    best_of_for,
    choose_best,
    default_best_of,
    regenerate,
    sample_best,
    style_model,
    write_best,
    write_continuation,
)
from composer.generation.setup import (
    GeneratedPiece,
    Sampling,
    bars_for,
    check_out_dir,
    load_model,
    next_paths,
    output_path,
    start_sampling,
)
from composer.generation.stepper import Stepper, quantize_model

__all__ = [
    "MAX_ONSET_NOTES",
    "GeneratedPiece",
    "HarmonizeState",
    "Primer",
    "RemiState",
    "Sampling",
    "Selection",
    "Stepper",
    "Vocab",
    "analyze_piece",
    "STYLE_WEIGHT",
    "style_model",
    "best_continuation",
    "bars_for",
    "check_out_dir",
    "choose_best",
    "best_of_for",
    "default_best_of",
    "Request",
    "read_record",
    "regenerate",
    "sample_best",
    "continue_melody",
    "continue_notes",
    "draw",
    "filter_logits",
    "generate",
    "harmonizations",
    "harmonize",
    "load_model",
    "next_paths",
    "output_path",
    "parse_primer",
    "quantize_model",
    "NumpyUniforms",
    "TorchUniforms",
    "sample_pieces",
    "sample_streams",
    "start_sampling",
    "stream_notes",
    "primer_melody",
    "top_line",
    "write_best",
    "write_continuation",
]
