"""Tests of the key evidence from cadences and of the annotated key set (issue #13, round 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("music21")

from composer.events import Note  # noqa: E402
from composer.harmony import chords as ch  # noqa: E402
from composer.harmony import make_slices, piece_from_notes  # noqa: E402

# C: I IV V7 I, a chord a beat, the bass 5 -> 1 into the last beat
_CHORDS = [(72, 67, 64, 48), (72, 69, 65, 53), (71, 65, 62, 43), (72, 67, 64, 48)]


def _bonus() -> object:
    voices = [[Note(float(i), chord[v], 1.0) for i, chord in enumerate(_CHORDS)] for v in range(4)]
    sl = make_slices(piece_from_notes(voices))
    beats = [i for i, s in enumerate(sl.strength) if s >= 2]
    path = ch.chord_path(sl, [0] * sl.n)  # every slice in C major
    return ch.cadence_bonus(sl, path, beats)


def test_a_cadence_confirms_its_key_on_the_arrival_beat_alone() -> None:
    """V7-I adds key evidence for C major on its own beat only; I-IV (V-I of F) for F on beat 2."""
    bonus = _bonus()
    b = ch.CADENCE_BONUS
    assert [round(float(x), 3) for x in bonus[:, 0]] == [0.0, 0.0, 0.0, b]  # type: ignore[index]
    assert [round(float(x), 3) for x in bonus[:, 5]] == [0.0, b, 0.0, 0.0]  # type: ignore[index]


def test_a_cadence_span_reaches_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``CADENCE_SPAN`` beats (round 9: 6) the approach's beats share the evidence."""
    monkeypatch.setattr(ch, "CADENCE_SPAN", 2)
    bonus = _bonus()
    assert [round(float(x), 3) for x in bonus[:, 0]] == [0.0, ch.CADENCE_BONUS, ch.CADENCE_BONUS, ch.CADENCE_BONUS]  # type: ignore[index]


def test_annotated_set_leaves_out_the_benchmark_chorales(tmp_path: Path) -> None:
    """An analysis of a benchmark chorale's BWV movement is left out of bench_key_annotated."""
    import sys

    here = Path(__file__).resolve().parent.parent / "benchmarks"
    sys.path.insert(0, str(here))
    try:
        import bench_key_annotated as ka
    finally:
        sys.path.remove(str(here))
    from music21 import corpus

    first = Path(str(corpus.getWork("bach/choraleAnalyses/riemenschneider001.rntxt"))).read_text(encoding="utf-8")
    (tmp_path / "a.rntxt").write_text(first, encoding="utf-8")
    (tmp_path / "b.rntxt").write_text("Composer: J. S. Bach\nBWV: 153.5\n\nm1 a: i\n", encoding="utf-8")
    keep, dropped = ka.analyses(tmp_path)
    assert [Path(k).name for k in keep] == ["b.rntxt"]
    assert [Path(d).name for d in dropped] == ["a.rntxt"]
