"""Checks shared by the tests: one-line errors, balanced note streams, one torch thread, the SATB grid's spec."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from composer.config import TokenizerSpec

# the SATB grid of the chorale corpora: four steps a quarter note, the chorales' pitch range
SATB_SPEC = TokenizerSpec(kind="SATB", beat_res={"0_4": 4}, pitch_range=(28, 96))


def one_line_error(result: Any, *must: str, code: int = 2) -> str:
    """Assert exit ``code`` with exactly one ``error:`` line on stderr containing each of ``must``.

    Takes a Typer ``CliRunner`` result or a ``subprocess.CompletedProcess``; returns the line.
    """
    exit_code = getattr(result, "exit_code", getattr(result, "returncode", None))
    stdout, stderr = (x.decode() if isinstance(x, bytes) else (x or "") for x in (result.stdout, result.stderr))
    out = stdout + stderr
    assert "Traceback" not in out, out
    assert exit_code == code, f"exit {exit_code}: {out}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), lines[0]
    for m in must:
        assert m in lines[0], f"{m!r} not in {lines[0]!r}"
    return lines[0]


def unbalanced(msgs: Iterable[Any]) -> list[str]:
    """What is wrong with a stream of MIDI messages, as a synthesizer would hear it.

    A note-on for a (channel, pitch) that is already sounding is a fault (a doubled note that
    one note-off would leave stuck), and so is any note still sounding at the end.  Extra
    note-offs are harmless and allowed (the clean stop sends them).  Velocity-0 note-ons are
    note-offs.  Empty list = balanced.
    """
    sounding: set[tuple[int, int]] = set()
    faults: list[str] = []
    for m in msgs:
        key = (m.channel, m.note) if m.type in ("note_on", "note_off") else None
        if key is None:
            continue
        if m.type == "note_on" and m.velocity > 0:
            if key in sounding:
                faults.append(f"note-on of {key} while it sounds")
            sounding.add(key)
        else:
            sounding.discard(key)
    faults.extend(f"{key} still sounding at the end" for key in sorted(sounding))
    return faults


def balanced(msgs: Iterable[Any]) -> bool:
    """No doubled note-on and no note left sounding (see :func:`unbalanced`)."""
    return not unbalanced(msgs)


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """``n`` torch intra-op threads inside, restored after.

    Tiny models on a small, busy machine run many times slower with torch's default threads.
    """
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
