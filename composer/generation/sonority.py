"""Pitch-class sets of chords, and the tests the four-voice sampler's chord rules use (:mod:`.satb`).

A sonority is "open" when it is one pitch class, or two a fourth / fifth apart (bare octaves and
fifths); it is "completed" by a third or sixth within one triad or seventh chord (the sonority
kinds of ``benchmarks/chorale_figures.py``, where the chorale figures count them).
"""

from __future__ import annotations

from functools import lru_cache

#: Pitch-class sets of the triads and seventh chords (every root): what a beat's sonority may be part of.
CHORD_SETS = tuple(frozenset((root + i) % 12 for i in shape) for root in range(12) for shape in (
    (0, 4, 7), (0, 3, 7), (0, 3, 6), (0, 4, 8), (0, 4, 7, 10), (0, 3, 7, 10), (0, 3, 6, 10), (0, 3, 6, 9),
    (0, 4, 7, 11)))
TRIAD_SETS = tuple(c for c in CHORD_SETS if len(c) == 3)


def is_open(pcs: frozenset[int]) -> bool:
    """One pitch class, or two a fourth / fifth apart."""
    if len(pcs) == 1:
        return True
    a, b = sorted(pcs) if len(pcs) == 2 else (0, 1)
    return len(pcs) == 2 and (b - a) in (5, 7)


def completes(pcs: frozenset[int], chords: tuple[frozenset[int], ...]) -> bool:
    """A third or sixth between two of ``pcs``, all of them within one of ``chords``."""
    return any((p + 3) % 12 in pcs or (p + 4) % 12 in pcs for p in pcs) and any(pcs <= c for c in chords)


@lru_cache(maxsize=4096)
def completions(above: frozenset[int]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The pitch classes added to ``above`` that complete a triad, a triad or seventh chord, or leave it open."""
    return (tuple(pc for pc in range(12) if completes(above | {pc}, TRIAD_SETS)),
            tuple(pc for pc in range(12) if completes(above | {pc}, CHORD_SETS)),
            tuple(pc for pc in range(12) if is_open(above | {pc})))


__all__ = ["CHORD_SETS", "TRIAD_SETS", "completes", "completions", "is_open"]
