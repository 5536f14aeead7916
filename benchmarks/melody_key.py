"""The key of a melody (a primer, a soprano to harmonize): Krumhansl-Schmuckler alone against the scale penalty.

Plain script: ``.venv/bin/python benchmarks/melody_key.py``.  For the test and validation chorales of
``bach-chorales`` (whole pieces from their MIDI renderings), the soprano (highest voice by pitch order)
alone, whole and its first 8 notes (a typed primer's length), read by ``keys.find_key`` and by
``keys.find_melody_key``; counted against ``find_key`` of all four voices (the chorale's key).  The whole
soprano also with ``ends=True`` (a tune to harmonize: the keys whose tonic is its last note gain
``keys.MELODY_FINAL_TONIC``), on the training split too (where that gain was chosen, with the validation split).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_chorales import real_pieces  # noqa: E402

from composer.harmony import split_voices  # noqa: E402
from composer.keys import find_key, find_melody_key  # noqa: E402


def main() -> None:
    for split in ("train", "valid", "test"):
        pieces = real_pieces("bach-chorales", None, split=split)
        counts = {"whole": [0, 0], "first 8 notes": [0, 0]}
        tune = 0
        for c in pieces:
            notes = c.analysis.piece.notes
            truth = find_key(notes)[0]
            soprano = split_voices(notes)[0][0]
            for part, melody in (("whole", soprano), ("first 8 notes", soprano[:8])):
                counts[part][0] += find_key(melody)[0] == truth
                counts[part][1] += find_melody_key(melody)[0] == truth
            tune += find_melody_key(soprano, ends=True)[0] == truth
        for part, (old, new) in counts.items():
            print(f"{split} ({len(pieces)} chorales), soprano {part}: the chorale's key "
                  f"{old} by the profile alone, {new} with the scale penalty"
                  + (f", {tune} with its last note counted (ends=True)" if part == "whole" else ""))


if __name__ == "__main__":
    main()
