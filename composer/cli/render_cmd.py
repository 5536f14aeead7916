"""CLI command: ``composer render FILE.mid [-o FILE.wav|FILE.flac] [--soundfont SF2] [--rate HZ] [--force]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from composer.audio import RATES, render
from composer.cli.common import console, handle_errors
from composer.cli.options import MaxNotes, Soundfont


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""

    @app.command("render")
    def render_cmd(
        midi: Annotated[Path, typer.Argument(help="The MIDI file to hear.")],
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="The .wav or .flac file [the MIDI file's name, .wav].")
        ] = None,
        soundfont: Soundfont = None,
        rate: Annotated[int, typer.Option("--rate", help=f"Sample rate: {', '.join(map(str, RATES))}.")] = 44100,
        gain: Annotated[float, typer.Option("--gain", help="FluidSynth's master gain, (0, 10].")] = 0.5,
        force: Annotated[bool, typer.Option("--force", help="Overwrite an existing WAV file.")] = False,
        max_notes: MaxNotes = None,
    ) -> None:
        """Render a MIDI file to audio (WAV or FLAC) through FluidSynth and a General MIDI soundfont.

        Example: composer render out/chorales-001.mid -o chorale.wav
        """
        with handle_errors(max_notes):
            r = render(midi, out if out is not None else midi.with_suffix(".wav"), soundfont=soundfont, rate=rate,
                       gain=gain, force=force)
            console.print(f"wrote {r.path}: {r.seconds:.1f} s at {r.rate} Hz, peak {r.peak_dbfs:.1f} dBFS "
                          f"(soundfont {r.soundfont})", highlight=False, soft_wrap=True)
