"""The one-call Python API: ``composer.generate`` and ``composer.continue_melody``.

::

    pm = composer.generate(bars=16, seed=1)                  # pretty_midi.PrettyMIDI
    pm = composer.continue_melody("tinyNotation: 4/4 c4 d e f g2 g", bars=8)

Both take the fields of :class:`~composer.config.SampleOptions` as keyword
arguments (``temperature``, ``top_k``, ``top_p``, ``seed``, ``key``, ``key_bias``,
``pitch_min``, ``pitch_max``, ``max_polyphony``, ``style``; typed by
:class:`SamplingArgs`) and call :func:`~composer.generation.pieces.sample_pieces`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from composer.config import SampleOptions
from composer.events import Note
from composer.generation.pieces import sample_pieces
from composer.generation.primer import Primer, parse_primer
from composer.generation.setup import bars_for

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


def _options(sampling: SamplingArgs) -> SampleOptions:
    return SampleOptions(**sampling)


def generate(
    checkpoint: str | Path | None = None,
    *,
    bars: int = 16,
    seconds: float | None = None,
    tempo: float | None = None,
    program: int | None = None,
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
    **sampling
        ``temperature``, ``top_k``, ``top_p``, ``seed``, ``key``, ``key_bias`` and the other
        fields of :class:`~composer.config.SampleOptions` (a ``ValueError`` names a bad one).

    Examples
    --------
    >>> import composer
    >>> pm = composer.generate("chorales", bars=8, seed=3)  # doctest: +SKIP
    >>> pm.write("chorale.mid")  # doctest: +SKIP
    """
    opts = _options(sampling)
    if seconds is not None:
        bars = bars_for(seconds, tempo or 100.0, (4, 4))
    piece = sample_pieces(checkpoint, n=1, bars=bars, options=opts, tempo=tempo, program=program)[0]
    return piece.to_pretty_midi()


def continue_melody(
    primer: str | Path | Sequence[Note],
    checkpoint: str | Path | None = None,
    *,
    bars: int = 8,
    tempo: float | None = None,
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
    **sampling
        As for :func:`generate`.
    """
    p = primer if isinstance(primer, Primer) else parse_primer(primer)
    opts = _options(sampling)
    total = p.bars + bars
    return sample_pieces(checkpoint, n=1, bars=total, options=opts, tempo=tempo, primer=p)[0].to_pretty_midi()
