"""The ``composer`` command-line interface (Typer).

Each command lives in a module of this package and is registered here; every
command parses its options, builds a config and calls one library function.
Heavy libraries (torch, music21, miditok) are imported inside the commands so
that ``composer --help`` answers fast.
"""

from __future__ import annotations

import typer

from composer.cli import analyze_cmd, corpus_cmd, generate_cmd, live_cmd, train_cmd
from composer.version import __version__

app = typer.Typer(
    name="composer",
    help="Compose music with an LSTM trained on MIDI: generate, continue, play live, analyze.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"composer {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Compose music with an LSTM trained on MIDI."""


for _module in (corpus_cmd, train_cmd, generate_cmd, live_cmd, analyze_cmd):
    _module.register(app)


def run() -> None:
    """Console-script entry point."""
    app()
