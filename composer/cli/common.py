"""Shared pieces of the CLI: error handling and consoles (option types: :mod:`composer.cli.options`)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console

from composer.errors import ComposerError, InputError
from composer.midifile import note_limit

console = Console()
err_console = Console(stderr=True)


#: The config fields whose checks name them (``top_p must be in (0, 1]``), said as the option the user typed
#: (``--top-p must be in (0, 1]``): the field with dashes, or the option named here.
_FIELDS = frozenset({
    "temperature", "top_k", "top_p", "key_bias", "seed", "bars", "answer_bars", "rounds", "lookahead", "tempo",
    "channel", "program", "max_polyphony", "time_budget", "max_steps", "patience", "grad_clip", "warmup_steps",
    "weight_decay", "threads", "seq_len", "batch_size", "epochs", "save_every", "lr", "dropout", "embed_dim",
    "hidden_size", "num_layers", "schedule", "device",
})
_RENAMED = {"phrase_rewinds": "--rewinds", "max_seconds": "--seconds", "max_beats": "--bars",
            "silence_beats": "--silence"}
OPTION_OF_FIELD = {f: "--" + f.replace("_", "-") for f in _FIELDS} | _RENAMED
_FIELD_CHECK = re.compile(r"^([a-z_]+)( must | should )")


def option_named(message: str) -> str:
    """``message`` with a config field it starts with named as its command-line option."""
    m = _FIELD_CHECK.match(message)
    if m is None or m.group(1) not in OPTION_OF_FIELD:
        return message
    return OPTION_OF_FIELD[m.group(1)] + message[len(m.group(1)):]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error on stderr and return the ``typer.Exit`` to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def handle_errors(max_notes: int | None = None, cache_dir: Path | None = None) -> Iterator[None]:
    """Turn library errors into one-line messages and exit codes.

    ``ComposerError`` exits with its own code (2 for bad input); a full disk or a
    denied write exits 2; Ctrl+C exits 130.  Set ``COMPOSER_DEBUG=1`` to see
    tracebacks of unexpected errors.  ``max_notes`` raises or lowers the note
    limit of every MIDI file read inside the block; ``cache_dir`` (``--cache-dir``)
    stands for ``$COMPOSER_CACHE_DIR`` inside it: the one meaning of the option on
    every command (corpora in ``CACHE/corpora``, models in ``CACHE/models``).
    """
    try:
        with note_limit(max_notes), _cache_override(cache_dir):
            yield
    except InputError as exc:
        raise fail(option_named(str(exc)), exc.exit_code) from None
    except ComposerError as exc:
        raise fail(str(exc), exc.exit_code) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    except OSError as exc:
        if os.environ.get("COMPOSER_DEBUG"):
            raise
        user_fixable = (errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR,
                        errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EDQUOT)
        code = 2 if exc.errno in user_fixable else 1
        where = f" ({exc.filename})" if exc.filename else ""
        raise fail(f"{exc.strerror or exc}{where}", code) from None
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except Exception as exc:  # last resort: never show a traceback to a user
        if os.environ.get("COMPOSER_DEBUG"):
            raise
        raise fail(f"internal error: {type(exc).__name__}: {exc}", 1) from None


@contextlib.contextmanager
def _cache_override(cache_dir: Path | None) -> Iterator[None]:
    if cache_dir is None:
        yield
        return
    old = os.environ.get("COMPOSER_CACHE_DIR")
    os.environ["COMPOSER_CACHE_DIR"] = str(cache_dir)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COMPOSER_CACHE_DIR"]
        else:
            os.environ["COMPOSER_CACHE_DIR"] = old


def is_tty() -> bool:
    """Whether stderr is an interactive terminal (progress bars only then)."""
    return sys.stderr.isatty()


@contextlib.contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner saying ``message`` on a terminal while slow work runs; nothing when not a terminal."""
    if not is_tty():
        yield
        return
    with err_console.status(message, spinner="dots"):
        yield
