"""The round-11 cross-validation by chorale (benchmarks/bench_key_cv.py)."""

from __future__ import annotations

import sys
from pathlib import Path


def _cv():  # type: ignore[no-untyped-def]
    here = Path(__file__).resolve().parent.parent / "benchmarks"
    sys.path.insert(0, str(here))
    try:
        import bench_key_cv
    finally:
        sys.path.remove(str(here))
    return bench_key_cv


def test_each_fold_is_scored_by_the_candidate_best_on_the_others() -> None:
    """Chorale i in fold i % k; the choice never sees its own fold, so a lucky fold does not choose."""
    cv = _cv()
    names = ["a", "b", "c", "d"]
    # "new" wins big on "a" alone; on every other chorale "old" is better
    scores = {
        "old": {"a": [10, 2, 0, 0, 0, 0], "b": [10, 9, 0, 0, 0, 0], "c": [10, 9, 0, 0, 0, 0], "d": [10, 9, 0, 0, 0, 0]},
        "new": {
            "a": [10, 10, 0, 0, 0, 0],
            "b": [10, 8, 0, 0, 0, 0],
            "c": [10, 8, 0, 0, 0, 0],
            "d": [10, 8, 0, 0, 0, 0],
        },
    }
    r = cv.cross_validate(scores, names, 2)  # folds {a, c}, {b, d}
    assert r["chosen"] == ["old", "new"]  # fold {a, c} chosen on {b, d}: old; fold {b, d} on {a, c}: new (18 > 11)
    assert r["out_of_fold"] == 67.5  # a 2 + c 9 (old), b 8 + d 8 (new): 27 of 40
    assert r["old"] == 72.5  # the first candidate throughout: 29 of 40
    assert r["per_fold"]["new"] == [90.0, 80.0]
