"""The one-call Python API: ``composer.generate`` and ``composer.continue_melody``.

::

    pm = composer.generate(bars=16, seed=1)                  # pretty_midi.PrettyMIDI
    pm = composer.continue_melody("tinyNotation: 4/4 c4 d e f g2 g", bars=8)

Both take the fields of :class:`~composer.config.SampleOptions` as keyword
arguments (``temperature``, ``top_k``, ``top_p``, ``seed``, ``key``, ``key_bias``,
``pitch_min``, ``pitch_max``, ``max_polyphony``, ``style``, and for four-voice models
``no_parallels``, ``typed``, ``full_chords``, ``repeats``, ``phrase_rests``, ``raised_penalty``,
``seventh_penalty``, ``four_pcs``, ``clash_odds``, ``onset_odds``, ``sixteenth_odds``, ``degree_odds``,
``motion_odds``, ``motion_beats``, ``bass_odds``, ``phrase_choice``, ``phrase_rewinds``;
typed by :class:`SamplingArgs`) and sample as ``composer generate`` / ``composer continue`` do, through
:mod:`composer.generation.select`: the same default ``best_of`` (4 for four-voice models), the
same seeds, so ``composer.generate(seed=1)`` is the piece ``composer generate -n 1 --seed 1``
writes (without its record).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from composer.config import SampleOptions
from composer.events import Note
from composer.generation.dynamics import humanize as shape_velocities
from composer.generation.primer import Primer, parse_primer
from composer.generation.record import Request
from composer.generation.select import best_continuation, best_of_for, sample_best
from composer.generation.setup import GeneratedPiece, bars_for, draw_seed

if TYPE_CHECKING:
    import pretty_midi
    from typing_extensions import Unpack


class SamplingArgs(TypedDict, total=False):
    """Keyword arguments of the Python API that become :class:`SampleOptions` (same names, same defaults)."""

    temperature: float
    top_k: int
    top_p: float
    seed: int | None
    key: str | None
    key_bias: float
    pitch_min: int
    pitch_max: int
    max_polyphony: int
    style: str | None
    no_parallels: bool
    typed: bool
    full_chords: bool
    repeats: float | None
    phrase_rests: int | None
    raised_penalty: float
    seventh_penalty: float
    four_pcs: float | None
    clash_odds: float | None
    onset_odds: float | None
    sixteenth_odds: float | None
    bass_odds: float | None
    phrase_choice: bool
    phrase_rewinds: int
    degree_odds: float | None
    motion_odds: float | None
    motion_beats: bool


def _request(checkpoint: str | Path | None, best_of: int | None, sampling: SamplingArgs, **fields: Any) -> Request:
    opts = SampleOptions(**sampling)
    return Request(None if checkpoint is None else str(checkpoint), best_of=best_of_for(best_of, checkpoint),
                   options=replace(opts, seed=draw_seed(opts.seed)), **fields)


def _finished(piece: GeneratedPiece, humanize: bool) -> pretty_midi.PrettyMIDI:
    return (shape_velocities(piece) if humanize else piece).to_pretty_midi()


def generate(
    checkpoint: str | Path | None = None,
    *,
    bars: int = 16,
    seconds: float | None = None,
    tempo: float | None = None,
    program: int | None = None,
    best_of: int | None = None,
    humanize: bool = False,
    **sampling: Unpack[SamplingArgs],
) -> pretty_midi.PrettyMIDI:
    """Generate one piece and return it as ``pretty_midi.PrettyMIDI``.

    Parameters
    ----------
    checkpoint : str or path, optional
        Bundled model name (``"chorales"``, ``"folk"``), folder or file.
    bars, seconds : int, float
        Length in bars, or in seconds at ``tempo`` (rounded up to whole bars).
    tempo : float, optional
        bpm (default: the model's).
    program : int, optional
        General MIDI program.
    best_of : int, optional
        Candidates sampled, the best kept by the harmonic analysis (default: as ``composer
        generate``, 4 for four-voice models, else 1).
    humanize : bool
        Shape velocities (``--humanize``, :mod:`composer.generation.dynamics`).
    **sampling
        ``temperature``, ``top_k``, ``top_p``, ``seed``, ``key``, ``key_bias`` and the other
        fields of :class:`~composer.config.SampleOptions` (a ``ValueError`` names a bad one).

    Examples
    --------
    >>> import composer
    >>> pm = composer.generate("chorales", bars=8, seed=3)  # doctest: +SKIP
    >>> pm.write("chorale.mid")  # doctest: +SKIP
    """
    if seconds is not None:
        bars = bars_for(seconds, tempo or 100.0, (4, 4))
    request = _request(checkpoint, best_of, sampling, n=1, bars=bars, tempo=tempo, program=program)
    return _finished(sample_best(request).pieces[0], humanize)


def continue_melody(
    primer: str | Path | Sequence[Note],
    checkpoint: str | Path | None = None,
    *,
    bars: int = 8,
    tempo: float | None = None,
    voices: bool = False,
    best_of: int | None = None,
    humanize: bool = False,
    **sampling: Unpack[SamplingArgs],
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
    tempo : float, optional
        bpm (default: the primer's, else the model's).
    voices : bool
        Harmonize beneath the melody instead of continuing it (``continue --voices``).
    best_of, humanize, **sampling
        As for :func:`generate`.
    """
    p = primer if isinstance(primer, Primer) else parse_primer(primer)
    request = _request(checkpoint, best_of, sampling, bars=bars, tempo=tempo, voices=voices)
    return _finished(best_continuation(p, request).pieces[0], humanize)
