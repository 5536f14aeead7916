"""The ``composer`` command-line interface (Typer).

Each command lives in a module of this package and is registered here; every
command parses its options, builds a config and calls one library function.
Heavy libraries (torch, music21, miditok) are imported inside the commands so
that ``composer --help`` answers fast.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from composer.cli import analyze_cmd, corpus_cmd, generate_cmd, live_cmd, render_cmd, train_cmd
from composer.cli.common import fail
from composer.version import __version__

#: Click's UsageError (bad or missing option, argument or command), reached through the public
#: ``typer.BadParameter`` because Typer vendors its own Click.
UsageError: type[Exception] = next(
    (c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"), typer.BadParameter
)


def _usage_error(exc: Any) -> Exception:
    """One ``error:`` line (exit 2) instead of Click's usage box; "no arguments: show the help" stays."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        return exc
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return fail(f"{exc.format_message()}{where}", 2)


class _OneLineErrors(TyperGroup):
    """The top command group: a bad option or argument (``--seed abc``, ``--max-notes 0``) is one line."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            raise _usage_error(exc) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            raise _usage_error(exc) from None


app = typer.Typer(
    name="composer",
    cls=_OneLineErrors,
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


for _module in (corpus_cmd, train_cmd, generate_cmd, live_cmd, analyze_cmd, render_cmd):
    _module.register(app)


def run() -> None:
    """Console-script entry point."""
    app()
