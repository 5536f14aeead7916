"""Where in the beat each voice strikes its notes, the four-voice sampler against Bach (issue 11, the AUC target).

A voice's onset rate at a place of the beat (:data:`ENTRIES`: its second 16th, its third, its fourth after a note
struck at the third or after none) is the share of its chances there at which it strikes a note (its eighths and
16ths: the classifier's most telling feature is the 16th notes, Bach 1.8 % of the test split's notes, the sampler
about 1.0 %; Bach's 16ths come in pairs after an eighth, the sampler's after a dotted eighth).  Bach's: the
``bach-chorales`` training
split (its MIDI renderings, whole pieces, metres of quarter-note beats).  The sampler's: ``-n`` pieces of
``--bars`` bars, one draw each (no best-of), with the options given (seeds 9200 + i: no benchmark's).
``--fit`` prints one step of a fixed-point fit of :data:`composer.generation.odds.ONSET_CALIBRATION`: the table
in use plus logit(Bach's rate) - logit(the sampler's) per voice and entry, where both sides have at least
``MIN_ONSETS`` onsets there (else the entry is kept).  Also counted: how often a note struck at a beat's second /
fourth 16th is followed by a new note at the next step (``SampleOptions.sixteenth_odds``), and the dotted eighths
that start off the beat.

Usage: python benchmarks/chorale_onsets.py [-n 192] [--options JSON] [--table JSON] [--fit] [--out F.json]
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

#: The table's entries per voice: a note struck at the second 16th of a beat, at the third (an eighth), at the
#: fourth after one struck at the third (two 16ths: Bach's), at the fourth after none (a dotted eighth's 16th).
ENTRIES = ("2nd", "3rd", "4th after 3rd", "4th after none")
MIN_ONSETS = 20  # an entry is fitted only where both sides strike this many notes there


def onset_counts(voices: list[list[Note]], end: float) -> tuple[list[list[int]], list[list[int]]]:
    """Per voice and entry (:data:`ENTRIES`) before ``end`` (beats): the notes struck there, and the chances."""
    beats = int(round(end))
    counts, chances = [[0] * 4 for _ in range(4)], [[0] * 4 for _ in range(4)]
    for v, notes in enumerate(voices[:4]):
        places: dict[int, set[int]] = {}
        for n in notes:
            if n.start < end - 1e-6:
                places.setdefault(int(n.start + 1e-6), set()).add(round(n.start * 4) % 4)
        third = sum(1 for b in places.values() if 2 in b)
        chances[v] = [beats, beats, third, beats - third]
        counts[v] = [sum(1 for b in places.values() if 1 in b), third,
                     sum(1 for b in places.values() if 2 in b and 3 in b),
                     sum(1 for b in places.values() if 2 not in b and 3 in b)]
    return counts, chances


def after_16ths(voices: list[list[Note]], end: float) -> list[int]:
    """Over all voices before ``end``: notes struck at a beat's second 16th, those followed by a note at its eighth;
    at its fourth 16th, those followed by one on the next beat; dotted eighths off the beat, all dotted eighths."""
    out = [0] * 6
    for notes in voices[:4]:
        on = {round(n.start * 4) for n in notes if n.start < end - 1e-6}
        for s in on:
            if s % 4 in (1, 3):
                out[s % 4 - 1] += 1
                out[s % 4] += s + 1 in on
        dots = [n for n in notes if n.start < end - 1e-6 and round(n.duration * 4) == 3]
        out[4] += sum(1 for n in dots if round(n.start * 4) % 4)
        out[5] += len(dots)
    return out


def add(total: dict[str, Any], counts: list[list[int]], chances: list[list[int]], after: list[int]) -> None:
    total["after_16ths"] = [a + b for a, b in zip(total["after_16ths"], after, strict=True)]
    for v in range(4):
        for e in range(4):
            total["onsets"][v][e] += counts[v][e]
            total["chances"][v][e] += chances[v][e]


def empty() -> dict[str, Any]:
    return {"onsets": [[0] * 4 for _ in range(4)], "chances": [[0] * 4 for _ in range(4)], "after_16ths": [0] * 6}


def rates(total: dict[str, Any]) -> list[list[float]]:
    """Per voice and entry: the share of its chances that strike a note."""
    return [[round(c / max(n, 1), 5) for c, n in zip(row, chances, strict=True)]
            for row, chances in zip(total["onsets"], total["chances"], strict=True)]


def bach_onsets(split: str = "train") -> dict[str, Any]:
    """Bach's onsets over his ``split`` chorales in four voices with a quarter-note beat."""
    from composer.corpus import load_corpus
    from composer.harmony import load_piece

    c = load_corpus("bach-chorales")
    total = empty()
    for rec in c.pieces(split):
        vp = load_piece(c.root / "midi" / f"{rec['id']}.mid")
        if len(vp.voices) != 4 or vp.voice_mode != "tracks" or vp.denominator != 4:
            continue
        add(total, *onset_counts(vp.voices, vp.end), after_16ths(vp.voices, vp.end))
    return total


def sampled_onsets(n: int, bars: int, options: Any, table: tuple[tuple[float, ...], ...] | None) -> dict[str, Any]:
    """The sampler's onsets over ``n`` pieces of ``bars`` bars in 4/4 (one draw each)."""
    from composer.generation import odds, sample_pieces

    old = odds.ONSET_CALIBRATION
    if table is not None:
        odds.ONSET_CALIBRATION = table
    try:
        total = empty()
        for i in range(0, n, 16):
            for p in sample_pieces("chorales", n=min(16, n - i), bars=bars, options=replace(options, seed=9200 + i)):
                add(total, *onset_counts(p.voices or [], bars * 4.0), after_16ths(p.voices or [], bars * 4.0))
        return total
    finally:
        odds.ONSET_CALIBRATION = old


def fit_step(bach: dict[str, Any], gen: dict[str, Any],
             table: tuple[tuple[float, ...], ...]) -> tuple[tuple[float, ...], ...]:
    rb, rg = rates(bach), rates(gen)
    out = [list(row) for row in table]
    for v in range(4):
        for e in range(4):
            if bach["onsets"][v][e] >= MIN_ONSETS and gen["onsets"][v][e] >= MIN_ONSETS:
                step = math.log(rb[v][e] / (1 - rb[v][e])) - math.log(rg[v][e] / (1 - rg[v][e]))
                out[v][e] = round(max(-3.0, min(3.0, out[v][e] + step)), 2)
    return tuple(tuple(row) for row in out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    import torch

    from composer.generation import odds

    ap = calibration_parser(__doc__, "ONSET_CALIBRATION to use, a JSON list of 4 rows of 4 (default: the package's)",
                            '{"onset_odds": 1.0}')
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    options = calibration_options(ap, args)
    table = tuple(tuple(r) for r in json.loads(args.table)) if args.table else odds.ONSET_CALIBRATION
    bach = bach_onsets()
    gen = sampled_onsets(args.n, args.bars, options, table)
    result: dict[str, Any] = {"options": options.to_dict(), "table": [list(r) for r in table], "n": args.n,
                              "bars": args.bars, "Bach (train)": {**bach, "rates": rates(bach)},
                              "sampled": {**gen, "rates": rates(gen)}}
    if args.fit:
        result["fitted_table"] = [list(r) for r in fit_step(bach, gen, table)]
    for side in ("Bach (train)", "sampled"):
        r = result[side]["rates"]
        line = "  ".join(f"{name} " + "/".join(f"{100 * x:.2f}" for x in r[v]) for v, name in enumerate("SATB"))
        print(f"{side:13s} {line}  ({', '.join(ENTRIES)}, %)")
        a = result[side]["after_16ths"]
        print(f"{'':13s} struck again after a 16th at the 2nd: {a[1]} of {a[0]}, at the 4th: {a[3]} of {a[2]}; "
              f"dotted eighths off the beat {a[4]} of {a[5]}")
    if args.fit:
        print("fitted:", json.dumps(result["fitted_table"]))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
