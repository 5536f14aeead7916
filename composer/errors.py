"""Errors raised by the composer library.

The CLI turns any :class:`ComposerError` into a one-line message and exits with
``exit_code`` (2 for bad input, 1 for other failures); the library itself never
prints or exits.
"""

from __future__ import annotations


class ComposerError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code = 1


class InputError(ComposerError):
    """Bad input from the user: an option, a file, a name. Exit code 2."""

    exit_code = 2


class MidiError(InputError):
    """A MIDI (or score) file that cannot be read, or is refused by a limit."""


class CorpusError(InputError):
    """A corpus recipe or built corpus that is missing or inconsistent."""


class CheckpointError(InputError):
    """A checkpoint that is missing, unsafe, malformed or does not match."""


class PortError(InputError):
    """A MIDI port that does not exist or cannot be opened."""


class OutputError(ComposerError):
    """An output that cannot be written (exists without --force, disk full, no permission).

    Exit code 2: the user can fix it by choosing another path or freeing space.
    """

    exit_code = 2
