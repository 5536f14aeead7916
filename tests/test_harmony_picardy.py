"""A minor key's major tonic triad: ``I`` (a Picardy third) or ``V/iv`` (the dominant of iv)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("music21")

from composer.events import Note  # noqa: E402
from composer.harmony import analyze_file, analyze_notes, roman_figure  # noqa: E402

# (bass, tenor, alto, soprano), a chord a beat
A_MINOR = (45, 52, 60, 69)
D_MINOR = (50, 53, 62, 69)
E_MAJOR = (52, 56, 59, 71)
E7 = (52, 56, 62, 71)
A_MAJOR = (45, 52, 61, 69)


def _analyze(chords: list[tuple[int, ...]], last_beats: float = 2.0) -> object:
    n = len(chords)
    lengths = [1.0] * (n - 1) + [last_beats]
    voices = [[Note(float(i), c[v], lengths[i]) for i, c in enumerate(chords)] for v in (3, 2, 1, 0)]
    return analyze_notes(voices)


def test_applied_chords_in_minor_name_iv_in_lower_case() -> None:
    """The minor key's subdominant is iv: the major tonic triad out of context is V/iv, not V/IV."""
    assert roman_figure(0, "maj", 0, "minor") == "V/iv"
    assert roman_figure(0, "dom7", 4, "minor") == "V65/iv"
    assert roman_figure(4, "dim7", 4, "minor") == "viio7/iv"
    assert roman_figure(2, "maj", 2, "minor") == "V/V"
    assert roman_figure(0, "dom7", 0, "major") == "V7/IV"


def test_a_final_picardy_third_is_I() -> None:
    """a: i iv V i | iv V7 I: the last chord is the tonic (the analysts' I), the cadence V7 I."""
    a = _analyze([A_MINOR, D_MINOR, E_MAJOR, A_MINOR, D_MINOR, E7, A_MAJOR])
    assert a.key.name == "A minor"  # type: ignore[attr-defined]
    last = a.chords[-1]  # type: ignore[attr-defined]
    assert (last.key, last.roman) == ("A minor", "I")
    final = a.final_cadence  # type: ignore[attr-defined]
    assert (final.kind, final.subtype, final.progression) == ("authentic", "perfect", "V7 I")
    assert a.progression.endswith("V7 I")  # type: ignore[attr-defined]


def test_a_major_tonic_leading_to_iv_is_V_of_iv() -> None:
    """a: i V/iv iv V | i: the major tonic that moves to iv inside the phrase is its dominant."""
    a = _analyze([A_MINOR, E_MAJOR, A_MINOR, A_MAJOR, D_MINOR, E_MAJOR, A_MINOR])
    labels = [(c.offset, c.key, c.roman) for c in a.chords]  # type: ignore[attr-defined]
    assert (3.0, "A minor", "V/iv") in labels, labels
    assert (4.0, "A minor", "iv") in labels, labels


def test_a_chorale_score_ending_on_a_picardy_third(tmp_path: Path) -> None:
    """BWV 40.8 (riemenschneider008 of music21's analyses, the tuning part: f minor, m20 V I)."""
    from music21 import corpus

    path = tmp_path / "bwv40.8.musicxml"
    corpus.parse("bach/bwv40.8").write("musicxml", fp=str(path))  # type: ignore[union-attr]
    a = analyze_file(path)
    assert (a.chords[-1].key, a.chords[-1].roman) == ("F minor", "I")
    assert a.final_cadence is not None and a.final_cadence.progression.split()[-1] == "I"
