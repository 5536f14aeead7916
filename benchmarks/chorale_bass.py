"""The bass's motion from note to note on the beats, by degree: the four-voice sampler against Bach (issue 11).

Where the bass moves on a beat, from its last note (struck whenever) to a new pitch (a repeat left out: its odds are
the ``repeats`` kind's), the pair of degrees (semitones above the tonic) is counted per mode.  Bach's bass moves by
step far more than the sampler's (beat to beat, by a semitone 16.1 % of his test chorales' beats, the sampler 10.7 %;
his leading tone to the tonic three times as often) and leaps by a fourth or fifth less (20.5 % against 24.9 %).
Bach's: the ``bach-chorales`` training split, read in each piece's corpus key (music21's); the sampler's: ``-n``
pieces of ``--bars`` bars, one draw each, in the key they were written in.  ``--fit`` prints one step of a fit of
a (mode, last degree, new degree) table: log(Bach's share of the row / the sampler's), Laplace-smoothed (+1), where
both rows hold ``MIN_ROW`` moves or more and both sides make the move ``MIN_CELL`` times together (else 0),
clipped to +-``CLIP``.  ``--table`` samples with that table in place of the package's (for a second step).

Usage: python benchmarks/chorale_bass.py [-n 192] [--options JSON] [--fit] [--out F.json]
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench_args import calibration_options, calibration_parser  # noqa: E402

from composer.events import Note  # noqa: E402

MIN_ROW = 30  # a row is fitted only where both sides move from that degree this often
MIN_CELL = 10  # and a cell where both sides together make that move this often
CLIP = 1.5


def empty() -> list[list[list[int]]]:
    return [[[0] * 12 for _ in range(12)] for _ in range(2)]


def add_moves(counts: list[list[list[int]]], bass: list[Note], tonic: int, minor: bool, end: float) -> None:
    """Count the bass's moves to new pitches struck on the beats before ``end`` (beats)."""
    last = None
    for n in sorted(bass, key=lambda n: n.start):
        if n.start >= end - 1e-6:
            break
        on_beat = abs(n.start - round(n.start)) < 1e-6
        if on_beat and last is not None and n.pitch != last:
            counts[minor][(last - tonic) % 12][(n.pitch - tonic) % 12] += 1
        last = n.pitch


def bach_moves(split: str = "train") -> list[list[list[int]]]:
    from composer.corpus import load_corpus
    from composer.harmony import load_piece
    from composer.keys import parse_key

    c = load_corpus("bach-chorales")
    counts = empty()
    for rec in c.pieces(split):
        vp = load_piece(c.root / "midi" / f"{rec['id']}.mid")
        if len(vp.voices) != 4 or vp.voice_mode != "tracks" or vp.denominator != 4:
            continue
        key = parse_key(rec["key"])
        add_moves(counts, vp.voices[3], key // 2, bool(key % 2), vp.end)
    return counts


def sampled_moves(n: int, bars: int, options: Any, table: Any = None) -> list[list[list[int]]]:
    from composer.generation import odds, sample_pieces
    from composer.keys import parse_key

    old = odds.BASS_CALIBRATION
    if table is not None:
        odds.BASS_CALIBRATION = table
    try:
        counts = empty()
        for i in range(0, n, 16):
            for p in sample_pieces("chorales", n=min(16, n - i), bars=bars, options=replace(options, seed=9400 + i)):
                key = parse_key(p.key)
                add_moves(counts, (p.voices or [[]] * 4)[3], key // 2, bool(key % 2), bars * 4.0)
        return counts
    finally:
        odds.BASS_CALIBRATION = old


def shares(counts: list[list[list[int]]]) -> list[list[list[float]]]:
    return [[[round(x / max(sum(row), 1), 4) for x in row] for row in mode] for mode in counts]


def fit(bach: list[list[list[int]]], gen: list[list[list[int]]]) -> list[list[list[float]]]:
    out = [[[0.0] * 12 for _ in range(12)] for _ in range(2)]
    for m in range(2):
        for a in range(12):
            rb, rg = bach[m][a], gen[m][a]
            if sum(rb) < MIN_ROW or sum(rg) < MIN_ROW:
                continue
            tb, tg = sum(rb) + 12, sum(rg) + 12
            for b in range(12):
                if b != a and rb[b] + rg[b] >= MIN_CELL:
                    step = math.log((rb[b] + 1) / tb) - math.log((rg[b] + 1) / tg)
                    out[m][a][b] = round(max(-CLIP, min(CLIP, step)), 2)
    return out


def step_shares(counts: list[list[list[int]]]) -> dict[str, float]:
    """Of all moves: by a semitone, a whole tone, a third, a fourth or fifth (interval classes)."""
    by = [0] * 7
    for mode in counts:
        for a in range(12):
            for b in range(12):
                d = (b - a) % 12
                by[min(d, 12 - d)] += mode[a][b]
    total = max(sum(by), 1)
    return {"semitone": round(by[1] / total, 4), "tone": round(by[2] / total, 4),
            "third": round((by[3] + by[4]) / total, 4), "fourth_fifth": round(by[5] / total, 4),
            "leading_tone_to_tonic": round(sum(m[11][0] for m in counts) / total, 4), "moves": total}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    import torch

    ap = calibration_parser(__doc__, "BASS_CALIBRATION to sample with, a JSON list [mode][last][new]",
                            '{"bass_odds": 1.0}', "print one step of the fit (added to --table's, if given)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    options = calibration_options(ap, args)
    table = json.loads(args.table) if args.table else None
    bach, gen = bach_moves(), sampled_moves(args.n, args.bars, options, table)
    result: dict[str, Any] = {"options": options.to_dict(), "n": args.n, "bars": args.bars,
                              "Bach (train)": {"counts": bach, "steps": step_shares(bach)},
                              "sampled": {"counts": gen, "steps": step_shares(gen)}}
    print("Bach (train):", result["Bach (train)"]["steps"])
    print("sampled:     ", result["sampled"]["steps"])
    if args.fit:
        step = fit(bach, gen)
        base = table or [[[0.0] * 12 for _ in range(12)] for _ in range(2)]
        result["fitted"] = [[[round(max(-CLIP, min(CLIP, base[m][a][b] + step[m][a][b])), 2) for b in range(12)]
                             for a in range(12)] for m in range(2)]
        print("fitted:", json.dumps(result["fitted"]))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
