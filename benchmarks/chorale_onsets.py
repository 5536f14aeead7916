"""Where in the beat each voice strikes its notes, the four-voice sampler against Bach (issue 11, the AUC target).

A voice's onset rate at a place of the beat (:data:`ENTRIES`: its second 16th, its third, its fourth after a note
struck at the third or after none; its third and its fourth after the third in a beat the voice held over) is the
share of its chances there at which it strikes a note (its eighths and 16ths: the classifier's most telling feature
is the 16th notes, Bach 1.8 % of the test split's notes, the sampler about 1.0 %; Bach's 16ths come in pairs after
an eighth, the sampler's after a dotted eighth).  Bach's: the ``bach-chorales`` training split (its MIDI renderings,
whole pieces, metres of quarter-note beats).  The sampler's: ``-n`` pieces of ``--bars`` bars, one draw each (no
best-of), with the options given (seeds 9200 + i: no benchmark's).
``--fit`` prints one step of a fixed-point fit of :data:`composer.generation.odds.ONSET_CALIBRATION` (entries 0-3)
and ``HELD_ONSET_CALIBRATION`` (4-5; ``--entries`` says which are fitted): the table in use plus logit(Bach's rate) -
logit(the sampler's) per voice and entry, where both sides have at least ``MIN_ONSETS`` onsets there (else the entry
is kept).  Also counted: how often a note struck at a beat's second /
fourth 16th is followed by a new note at the next step (``SampleOptions.sixteenth_odds``), and the dotted eighths
that start off the beat.

Usage: python benchmarks/chorale_onsets.py [-n 192] [--options JSON] [--table JSON] [--held-table JSON] [--fit]
[--entries 4,5] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from composer.events import Note  # noqa: E402

#: The tables' entries per voice: a note struck at the second 16th of a beat, at the third (an eighth) of a beat struck
#: (at its first or second 16th), at the fourth after one struck at the third (two 16ths: Bach's) in a beat struck, at
#: the fourth after none (a dotted eighth's 16th); then at the third and at the fourth after the third in a beat held
#: over (struck neither at its first nor its second 16th: a dotted quarter and two 16ths).
ENTRIES = ("2nd", "3rd", "4th after 3rd", "4th after none", "3rd, beat held", "4th after 3rd, beat held")
MIN_ONSETS = 20  # an entry is fitted only where both sides strike this many notes there


def onset_counts(voices: list[list[Note]], end: float) -> tuple[list[list[int]], list[list[int]]]:
    """Per voice and entry (:data:`ENTRIES`) before ``end`` (beats): the notes struck there, and the chances."""
    beats = int(round(end))
    counts, chances = [[0] * 6 for _ in range(4)], [[0] * 6 for _ in range(4)]
    for v, notes in enumerate(voices[:4]):
        places: dict[int, set[int]] = {}
        for n in notes:
            if n.start < end - 1e-6:
                places.setdefault(int(n.start + 1e-6), set()).add(round(n.start * 4) % 4)
        struck = [b for b in places.values() if b & {0, 1}]  # beats struck at the first or second 16th
        held = [b for b in places.values() if not b & {0, 1}]  # (and the beats with no onset at all)
        third, held_third = sum(1 for b in struck if 2 in b), sum(1 for b in held if 2 in b)
        chances[v] = [beats, len(struck), third, beats - third - held_third, beats - len(struck), held_third]
        counts[v] = [sum(1 for b in places.values() if 1 in b), third, sum(1 for b in struck if 2 in b and 3 in b),
                     sum(1 for b in places.values() if 2 not in b and 3 in b), held_third,
                     sum(1 for b in held if 2 in b and 3 in b)]
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
        for e in range(len(ENTRIES)):
            total["onsets"][v][e] += counts[v][e]
            total["chances"][v][e] += chances[v][e]


def empty() -> dict[str, Any]:
    return {"onsets": [[0] * len(ENTRIES) for _ in range(4)], "chances": [[0] * len(ENTRIES) for _ in range(4)],
            "after_16ths": [0] * 6}


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


def sampled_onsets(n: int, bars: int, options: Any, table: tuple[tuple[float, ...], ...] | None,
                   held: tuple[tuple[float, ...], ...] | None = None) -> dict[str, Any]:
    """The sampler's onsets over ``n`` pieces of ``bars`` bars in 4/4 (one draw each), under the tables given."""
    from composer.generation import odds, sample_pieces

    old, old_held = odds.ONSET_CALIBRATION, odds.HELD_ONSET_CALIBRATION
    odds.ONSET_CALIBRATION, odds.HELD_ONSET_CALIBRATION = table or old, held or old_held  # type: ignore[assignment]
    try:
        total = empty()
        for i in range(0, n, 16):
            for p in sample_pieces("chorales", n=min(16, n - i), bars=bars, options=replace(options, seed=9200 + i)):
                add(total, *onset_counts(p.voices or [], bars * 4.0), after_16ths(p.voices or [], bars * 4.0))
        return total
    finally:
        odds.ONSET_CALIBRATION, odds.HELD_ONSET_CALIBRATION = old, old_held


def fit_step(bach: dict[str, Any], gen: dict[str, Any], table: tuple[tuple[float, ...], ...],
             entries: tuple[int, ...] = tuple(range(len(ENTRIES))), gain: float = 1.0) -> tuple[tuple[float, ...], ...]:
    """One fixed-point step of ``table`` (rows of the :data:`ENTRIES`: the two tables side by side) on ``entries``.

    ``gain`` scales the step and the clip (+-3 logits): 1 / ``onset_odds``, the strength the table is applied at (an
    offset of ``x`` in the table moves the logit by ``x`` times it).
    """
    rb, rg = rates(bach), rates(gen)
    out = [list(row) for row in table]
    for v in range(4):
        for e in entries:
            if bach["onsets"][v][e] >= MIN_ONSETS and gen["onsets"][v][e] >= MIN_ONSETS:
                step = math.log(rb[v][e] / (1 - rb[v][e])) - math.log(rg[v][e] / (1 - rg[v][e]))
                out[v][e] = round(max(-3.0 * gain, min(3.0 * gain, out[v][e] + gain * step)), 2)
    return tuple(tuple(row) for row in out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    warnings.filterwarnings("ignore")
    import torch

    from composer.cli.options import FILE_TOP_P
    from composer.config import SampleOptions
    from composer.generation import odds

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=192)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--options", default="{}", help="SampleOptions fields as JSON (e.g. '{\"onset_odds\": 1.0}')")
    ap.add_argument("--table", help="ONSET_CALIBRATION to use, a JSON list of 4 rows of 4 (default: the package's)")
    ap.add_argument("--held-table", help="HELD_ONSET_CALIBRATION to use, 4 rows of 2 (default: the package's)")
    ap.add_argument("--fit", action="store_true", help="print one fixed-point step of the tables")
    ap.add_argument("--entries", default="0,1,2,3,4,5", help="the entries --fit fits (0-3 ONSET_, 4-5 HELD_)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    options = SampleOptions(top_p=FILE_TOP_P, **json.loads(args.options))
    table = tuple(tuple(r) for r in json.loads(args.table)) if args.table else odds.ONSET_CALIBRATION
    held = tuple(tuple(r) for r in json.loads(args.held_table)) if args.held_table else odds.HELD_ONSET_CALIBRATION
    bach = bach_onsets()
    gen = sampled_onsets(args.n, args.bars, options, table, held)
    result: dict[str, Any] = {"options": options.to_dict(), "table": [list(r) for r in table],
                              "held_table": [list(r) for r in held], "n": args.n,
                              "bars": args.bars, "Bach (train)": {**bach, "rates": rates(bach)},
                              "sampled": {**gen, "rates": rates(gen)}}
    if args.fit:
        both = tuple(tuple(a) + tuple(b) for a, b in zip(table, held, strict=True))
        fitted = fit_step(bach, gen, both, tuple(int(e) for e in args.entries.split(",")),
                          1.0 / (options.onset_odds or 1.0))
        result["fitted_table"] = [list(r[:4]) for r in fitted]
        result["fitted_held_table"] = [list(r[4:]) for r in fitted]
    for side in ("Bach (train)", "sampled"):
        r = result[side]["rates"]
        line = "  ".join(f"{name} " + "/".join(f"{100 * x:.2f}" for x in r[v]) for v, name in enumerate("SATB"))
        print(f"{side:13s} {line}  ({', '.join(ENTRIES)}, %)")
        a = result[side]["after_16ths"]
        print(f"{'':13s} struck again after a 16th at the 2nd: {a[1]} of {a[0]}, at the 4th: {a[3]} of {a[2]}; "
              f"dotted eighths off the beat {a[4]} of {a[5]}")
    if args.fit:
        print("fitted:", json.dumps(result["fitted_table"]), "held:", json.dumps(result["fitted_held_table"]))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
