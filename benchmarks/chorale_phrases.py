"""Phrase lengths of the four-voice sampler against Bach's, and the fermata odds that match them (issue 11, item 2).

A phrase is the span from one fermata's onset to the next's (the first from the piece's first bar line), in
beats; the last phrase (ending on the final chord, which the sampler's ending rule places) is left out on both
sides.  Bach's: the fermata markers of the ``bach-chorales`` training split (the corpus writes them from the
music21 scores).  The sampler's: ``-n`` pieces of ``--bars`` bars, one draw each (no best-of), with the options
given.  ``--fit`` prints one step of a fixed-point fit of :data:`composer.generation.odds.PHRASE_CALIBRATION`:
the table in use plus logit(Bach's hazard) - logit(the sampler's) per phrase length, where the hazard at ``k``
beats is the share of the phrases still open at ``k`` that end there.

Usage: python benchmarks/chorale_phrases.py [-n 192] [--options JSON] [--table JSON] [--fit] [--out F.json]
"""

from __future__ import annotations

import collections
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
from bench_chorales import merged_fermatas  # noqa: E402

MAX_K = 24  # phrase lengths (beats) the table holds; longer ones share its last entry
MIN_AT_RISK = 20  # a length's hazard is fitted only where this many phrases on both sides are still open


def phrases(fermatas: list[float], beat: float = 1.0) -> list[int]:
    """Phrase lengths in whole beats: first fermata from 0, then onset to onset; the last phrase left out.

    A fermata within a beat and a half of the one before is the same one held over a second soprano note
    (the grid marks every step of it): the phrase runs from the first (as :class:`~composer.generation.odds.PhraseOdds`
    counts it)."""
    marks = [0.0, *merged_fermatas(fermatas, beat)]
    lengths = [round((b - a) / beat) for a, b in zip(marks, marks[1:], strict=False)]
    return [k for k in lengths[:-1] if k > 0]


def bach_phrases(split: str = "train") -> list[int]:
    """Bach's phrase lengths, his fermatas read as the grid code reads them (each at the onset of the soprano
    note it falls in, once: a marker on another voice's note a beat away is the same phrase end)."""
    from symusic import Score

    from composer.corpus import load_corpus
    from composer.errors import MidiError
    from composer.voicegrid import voiced_piece_from_score

    c = load_corpus("bach-chorales")
    out: list[int] = []
    for rec in c.pieces(split):
        try:
            vp = voiced_piece_from_score(Score(str(c.root / "midi" / f"{rec['id']}.mid")), 12)
        except MidiError:  # not four voices
            continue
        out += phrases(list(vp.fermatas), 1.5 if vp.denominator == 8 else 1.0)
    return out


def sampled_phrases(n: int, bars: int, options: Any, table: tuple[float, ...] | None) -> tuple[list[int], float]:
    """The sampler's phrase lengths over ``n`` pieces (one draw each), and its fermatas per piece."""
    from composer.generation import odds, sample_pieces

    old = odds.PHRASE_CALIBRATION
    if table is not None:
        odds.PHRASE_CALIBRATION = table
    try:
        out: list[int] = []
        count = 0
        for i in range(0, n, 16):
            for p in sample_pieces("chorales", n=min(16, n - i), bars=bars, options=replace(options, seed=9100 + i)):
                out += phrases(p.meta["fermatas"])
                count += len(p.meta["fermatas"])
        return out, count / max(n, 1)
    finally:
        odds.PHRASE_CALIBRATION = old


def hazards(lengths: list[int]) -> tuple[list[float], list[int]]:
    """Per length k = 0..MAX_K: the share of the phrases open at k that end there (smoothed), and how many are open."""
    cnt = collections.Counter(min(k, MAX_K) for k in lengths)
    out, risk = [], []
    for k in range(MAX_K + 1):
        at = sum(v for j, v in cnt.items() if j >= k)
        ends = cnt.get(k, 0)
        risk.append(at)
        out.append((ends + 0.5) / (at + 1.0))
    return out, risk


def fit_step(bach: list[int], gen: list[int], table: tuple[float, ...]) -> tuple[float, ...]:
    hb, rb = hazards(bach)
    hg, rg = hazards(gen)
    out = list(table) + [table[-1]] * (MAX_K + 1 - len(table))
    last = 0.0
    for k in range(1, MAX_K + 1):
        if rb[k] >= MIN_AT_RISK and rg[k] >= MIN_AT_RISK:
            last = math.log(hb[k] / (1 - hb[k])) - math.log(hg[k] / (1 - hg[k]))
            out[k] = round(max(-4.0, min(4.0, out[k] + last)), 2)
        else:  # too few phrases that long: the last fitted step carries on
            out[k] = round(max(-4.0, min(4.0, out[k] + last)), 2)
    out[0] = 0.0
    return tuple(out)


def summary(lengths: list[int]) -> dict[str, Any]:
    n = len(lengths)
    cnt = collections.Counter(lengths)
    return {"phrases": n, "median": sorted(lengths)[n // 2] if n else None,
            "share": {k: round(v / n, 4) for k, v in sorted(cnt.items())},
            "share_8": round(cnt.get(8, 0) / max(n, 1), 4),
            "share_6_to_10": round(sum(cnt.get(k, 0) for k in (6, 7, 8, 9, 10)) / max(n, 1), 4)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    import torch

    from composer.generation import odds

    ap = calibration_parser(__doc__, "PHRASE_CALIBRATION to use, a JSON list (default: the package's)",
                            '{"phrase_odds": 1.0}')
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    options = calibration_options(ap, args)
    table = tuple(json.loads(args.table)) if args.table else odds.PHRASE_CALIBRATION
    bach = bach_phrases()
    gen, per_piece = sampled_phrases(args.n, args.bars, options, table)
    result: dict[str, Any] = {"options": options.to_dict(), "table": list(table), "n": args.n, "bars": args.bars,
                              "Bach (train)": summary(bach), "sampled": summary(gen), "fermatas_per_piece": per_piece}
    if args.fit:
        result["fitted_table"] = list(fit_step(bach, gen, table))
    for side in ("Bach (train)", "sampled"):
        s = result[side]
        top = {k: v for k, v in s["share"].items() if v >= 0.03}
        print(f"{side}: {s['phrases']} phrases, median {s['median']} beats, 8 beats {100 * s['share_8']:.1f} %, "
              f"6-10 {100 * s['share_6_to_10']:.1f} %; {top}")
    print(f"fermatas per sampled piece {per_piece:.2f}")
    if args.fit:
        print("fitted:", json.dumps(result["fitted_table"]))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
