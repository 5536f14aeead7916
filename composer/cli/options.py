"""Option types shared by the commands, and the one builder of sampling options.

A command declares ``temperature: Temperature = DEFAULT_TEMPERATURE`` and so on,
then calls :func:`sample_options`; a new sampling option is added here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from composer.config import SampleOptions
from composer.errors import InputError

#: Nucleus mass kept by ``generate`` and ``continue`` (files).  ``play`` and ``jam`` keep 1.0
#: (no nucleus cut): a different default, kept as it was when these types were unified.
FILE_TOP_P = 0.95
LIVE_TOP_P = 1.0

Model = Annotated[
    str | None,
    typer.Option(
        "--model", "-m",
        help="Bundled model name (chorales, folk), folder or .safetensors file; builtin:scale is a test source "
        "(play and jam).",
    ),
]
Temperature = Annotated[float, typer.Option("--temperature", help="Sampling temperature, > 0.")]
TopK = Annotated[int, typer.Option("--top-k", help="Keep the k most likely tokens (0 = off).")]
TopP = Annotated[float, typer.Option("--top-p", help="Nucleus mass kept, in (0, 1].")]
Seed = Annotated[int | None, typer.Option("--seed", help="Random seed: same seed and options, same music.")]
Key = Annotated[str | None, typer.Option("--key", help='Keep to a key, e.g. "D minor" or "F#".')]
KeyBias = Annotated[
    float, typer.Option("--key-bias", help="Penalty (in logits) on notes outside the piece's key; 0 = off.")
]
Program = Annotated[int | None, typer.Option("--program", help="General MIDI program 0-127.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing files.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No status line or progress bar.")]
MaxNotes = Annotated[
    int | None,
    typer.Option("--max-notes", min=1, help="Refuse MIDI files with more notes than this [200000]."),
]
Record = Annotated[Path | None, typer.Option("--record", help="Also write what was played to this MIDI file.")]


def sample_options(
    temperature: float,
    top_k: int,
    top_p: float,
    seed: int | None,
    key: str | None,
    key_bias: float,
    *,
    pitch_min: int = 0,
    pitch_max: int = 127,
    max_polyphony: int = 0,
) -> SampleOptions:
    """The :class:`SampleOptions` of a command line; a bad value is an :class:`InputError` (exit 2)."""
    try:
        return SampleOptions(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, key=key,
                             pitch_min=pitch_min, pitch_max=pitch_max, max_polyphony=max_polyphony,
                             key_bias=key_bias)
    except ValueError as exc:
        raise InputError(str(exc)) from None
