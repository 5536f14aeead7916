"""Where live notes come from: the model, or the built-in test/demo source.

The model is :func:`composer.generation.stream_notes` (for ``play``) and
:func:`composer.generation.continue_notes` (for ``jam``), imported only when
used.  ``--model builtin:scale`` (or ``COMPOSER_TEST_SOURCE=scale`` in the
environment, for tests) selects a tiny deterministic source instead: a
four-voice chord progression with a running scale on top, and for ``jam`` the
player's phrase in retrograde.  It is **not a model**: it exists so the live
machinery can be tested and demonstrated without torch or a checkpoint.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from composer.config import SampleOptions
from composer.errors import InputError
from composer.events import Note, next_bar_line
from composer.keys import MAJOR_SCALE, NATURAL_MINOR_SCALE
from composer.live.jam import Continuation

BUILTIN_PREFIX = "builtin:"
BUILTIN_SOURCES = ("scale",)
TEST_SOURCE_ENV = "COMPOSER_TEST_SOURCE"  # e.g. "scale": use the built-in source when no --model

_PROGRESSION = (0, 3, 4, 0, 5, 1, 4, 0)  # scale degrees of chord roots: I IV V I vi ii V I


#: The live sources run the model's LSTM in numpy (:class:`composer.inference.ArrayLSTM`): torch is
#: never imported, which brings the first note about two seconds sooner (``benchmarks/live_coldstart.py``).
ENGINE = "numpy"


def builtin_name(model: str | None) -> str | None:
    """Name of the built-in source selected by ``model`` or the environment, else None.

    Raises
    ------
    InputError
        For an unknown ``builtin:`` name.
    """
    if model is None:
        name = os.environ.get(TEST_SOURCE_ENV) or None
    elif model.startswith(BUILTIN_PREFIX):
        name = model[len(BUILTIN_PREFIX) :]
    else:
        return None
    if name is not None and name not in BUILTIN_SOURCES:
        raise InputError(
            f"unknown built-in source {BUILTIN_PREFIX + name!r}: use one of "
            + ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_SOURCES)
        )
    return name


def _scale(options: SampleOptions) -> tuple[int, tuple[int, ...]]:
    k = options.key_index
    if k is None:
        return 0, MAJOR_SCALE
    return k // 2, (NATURAL_MINOR_SCALE if k % 2 else MAJOR_SCALE)


def scale_stream(
    options: SampleOptions = SampleOptions(),
    start: float = 0.0,
    bars: int | None = None,
    beats_per_bar: int = 4,
) -> Iterator[Note]:
    """Deterministic four-voice test music: bass, two inner voices, a running scale on top.

    Per 4/4 bar: bass half notes, tenor and alto quarter notes, soprano eighth
    notes (18 notes a bar).  ``options.key`` picks the key, ``options.seed``
    where the soprano starts; the other sampling options are ignored.

    Parameters
    ----------
    options : SampleOptions
        Only ``key`` and ``seed`` are used.
    start : float
        Beat of the first note.
    bars : int or None
        Number of bars; None is endless.
    beats_per_bar : int
        Bar length in beats.
    """
    tonic, scale = _scale(options)
    n = len(scale)

    def pitch(degree: int, octave: int) -> int:
        return 12 * (octave + degree // n) + tonic + scale[degree % n]

    run = (options.seed or 0) % n
    for bar in itertools.count() if bars is None else range(bars):
        root = _PROGRESSION[bar % len(_PROGRESSION)]
        t0 = start + bar * beats_per_bar
        for step in range(beats_per_bar * 2):
            beat = t0 + step * 0.5
            if step % 4 == 0:
                yield Note(beat, pitch(root, 3), 2.0, 72)  # bass
            if step % 2 == 0:
                yield Note(beat, pitch(root + 2, 4), 1.0, 64)  # tenor
                yield Note(beat, pitch(root + 4 + (step // 2) % 2 * 3, 4), 1.0, 64)  # alto
            wave = abs((run + bar * beats_per_bar * 2 + step) % (2 * n) - n)  # up and down
            yield Note(beat, pitch(wave, 5), 0.5, 88)  # soprano


def retrograde_answer(primer: Sequence[Note], bars: int, beats_per_bar: int = 4) -> list[Note]:
    """Test continuation: the primer's pitches backwards, in its rhythm, for ``bars`` bars.

    Notes start at the first bar line at or after the primer's end, on the
    primer's timeline (as :func:`composer.generation.continue_notes` does).
    """
    if not primer:
        return []
    first = min(n.start for n in primer)
    end = max(n.end for n in primer)
    begin = next_bar_line(end, beats_per_bar)
    stop = begin + bars * beats_per_bar
    pitches = [n.pitch for n in sorted(primer)][::-1]
    onsets = sorted(primer)
    length = max(end - first, 1.0)
    out: list[Note] = []
    for rep in itertools.count():
        for i, n in enumerate(onsets):
            s = begin + rep * length + (n.start - first)
            if s >= stop:
                return out
            out.append(Note(s, pitches[i], min(n.duration, stop - s), n.velocity))
    return out  # not reached: the loop above ends at the last bar


def note_stream(
    model: str | None,
    options: SampleOptions,
    primer: Sequence[Note] | None = None,
    bars: int | None = None,
    beats_per_bar: int = 4,
) -> Iterator[Note]:
    """Yield the notes of ``composer play``: the primer (if any), then its continuation.

    The continuation comes from the model (``stream_notes``) or the built-in
    source; it is placed after the primer's last bar.
    """
    primer = sorted(primer or [])
    end = max((n.end for n in primer), default=0.0)
    offset = next_bar_line(end, beats_per_bar)
    name = builtin_name(model)
    if name is not None:
        rest: Iterator[Note] = scale_stream(options, offset, bars, beats_per_bar)
    else:
        stream_notes = _generation("stream_notes")
        rest = stream_notes(model, options, primer or None, bars, engine=ENGINE)
    yield from primer
    shift = 0.0
    for i, note in enumerate(rest):
        if i == 0 and primer and note.start < end - 1e-6:
            # The source counted from 0 rather than on the primer's timeline (it overlaps it): move it after.
            shift = offset
        yield Note(note.start + shift, note.pitch, note.duration, note.velocity) if shift else note


def from_first_note(notes: Iterable[Note]) -> Iterator[Note]:
    """``notes`` moved earlier by the whole beats of silence before the first one.

    A chorale that begins with an upbeat is written from its bar line, the upbeat after three beats of rests: live,
    with no clock to keep a DAW's bar lines, the upbeat sounds at once instead.
    """
    it = iter(notes)
    first = next(it, None)
    if first is None:
        return
    shift = math.floor(first.start + 1e-9)
    yield Note(first.start - shift, first.pitch, first.duration, first.velocity)
    for n in it:
        yield Note(n.start - shift, n.pitch, n.duration, n.velocity) if shift else n


def continuation(model: str | None, options: SampleOptions, beats_per_bar: int = 4) -> Continuation:
    """Return the ``continue_notes(primer, bars)`` function that ``composer jam`` answers with."""
    if builtin_name(model) is not None:
        return lambda primer, bars: retrograde_answer(primer, bars, beats_per_bar)
    continue_notes = _generation("continue_notes")
    return lambda primer, bars: continue_notes(primer, bars, model, options, engine=ENGINE)


def _generation(name: str) -> Callable[..., Any]:
    """``stream_notes`` or ``continue_notes`` of :mod:`composer.generation`, imported now."""
    try:
        from composer.generation import continue_notes, stream_notes
    except ImportError as exc:
        raise InputError(
            f"the generation module is not available ({exc}); "
            f"use --model {BUILTIN_PREFIX}scale for the built-in demo source"
        ) from None
    funcs: dict[str, Callable[..., Any]] = {"stream_notes": stream_notes, "continue_notes": continue_notes}
    return funcs[name]
