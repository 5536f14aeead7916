"""Musical metrics: values on pieces whose answers are known by hand."""

from __future__ import annotations

import math

import pytest

from composer.events import Note
from composer.metrics import (
    all_metrics,
    empty_beat_rate,
    note_density,
    pitch_class_entropy,
    pitch_range,
    polyphony,
    scale_consistency,
    summarize,
)

C_MAJOR_SCALE = [Note(float(i), p, 1.0) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]


def test_entropy_of_uniform_and_single_pitch_classes() -> None:
    chromatic = [Note(float(i), 60 + i, 1.0) for i in range(12)]
    assert pitch_class_entropy(chromatic) == pytest.approx(math.log2(12))
    assert pitch_class_entropy([Note(0.0, 60, 1.0), Note(1.0, 72, 1.0)]) == 0.0
    assert pitch_class_entropy([]) == 0.0


def test_scale_consistency() -> None:
    assert scale_consistency(C_MAJOR_SCALE) == 1.0
    with_sharp = [*C_MAJOR_SCALE, Note(8.0, 61, 1.0), Note(9.0, 66, 1.0)]
    assert scale_consistency(with_sharp) == pytest.approx(8 / 10)


def test_empty_beats_polyphony_range_density() -> None:
    notes = [Note(0.0, 60, 2.0), Note(0.0, 64, 1.0), Note(3.0, 67, 1.0)]  # beat 2 silent
    assert empty_beat_rate(notes) == pytest.approx(1 / 4)
    # steps of 1/4 beat: beat 0 two pitches (4 steps), beat 1 one (4), beat 3 one (4)
    assert polyphony(notes) == pytest.approx((4 * 2 + 4 + 4) / 12)
    assert pitch_range(notes) == 7
    assert note_density(notes) == pytest.approx(3 / 4)


def test_all_metrics_and_summary() -> None:
    rows = [all_metrics(C_MAJOR_SCALE), all_metrics(C_MAJOR_SCALE[:4])]
    s = summarize(rows)
    assert set(s) == set(rows[0])
    assert s["scale_consistency"]["mean"] == 1.0 and s["scale_consistency"]["std"] == 0.0
    assert s["pitch_range"]["mean"] == pytest.approx((12 + 5) / 2)
