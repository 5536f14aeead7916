"""The shared test checks can fail: they must catch what they claim to."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import mido
import pytest
from helpers import balanced, one_line_error, unbalanced


def on(note: int, ch: int = 0) -> mido.Message:
    return mido.Message("note_on", channel=ch, note=note, velocity=90)


def off(note: int, ch: int = 0) -> mido.Message:
    return mido.Message("note_off", channel=ch, note=note)


def test_balanced_catches_a_doubled_note_on_closed_once() -> None:
    assert not balanced([on(60), on(60), off(60)])
    assert unbalanced([on(60), on(60), off(60)]) == ["note-on of (0, 60) while it sounds"]


def test_balanced_catches_a_note_left_on_and_accepts_extra_offs() -> None:
    assert not balanced([on(60), on(62), off(60)])
    assert balanced([on(60), off(60), off(60), on(60, ch=1), mido.Message("note_on", channel=1, note=60, velocity=0)])


def test_one_line_error_checks_code_lines_and_words() -> None:
    good = SimpleNamespace(exit_code=2, stdout="", stderr="error: no such file x.mid\n")
    assert one_line_error(good, "x.mid") == "error: no such file x.mid"
    for bad in (SimpleNamespace(exit_code=1, stdout="", stderr="error: x\n"),
                SimpleNamespace(exit_code=2, stdout="", stderr="error: x\nmore\n"),
                SimpleNamespace(exit_code=2, stdout="Traceback (most recent call last)", stderr="error: x\n")):
        with pytest.raises(AssertionError):
            one_line_error(bad)
    with pytest.raises(AssertionError):
        one_line_error(good, "y.mid")
    proc = subprocess.CompletedProcess([], 2, stdout=b"", stderr=b"error: bad\n")
    assert one_line_error(proc, "bad") == "error: bad"
