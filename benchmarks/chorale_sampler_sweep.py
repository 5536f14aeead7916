"""Sampler settings for the four-voice model, compared on the issue-11 figures (one draw per piece).

Plain script: ``.venv/bin/python benchmarks/chorale_sampler_sweep.py [--model M] [-n 100] [--variants a,b]``
writes ``benchmarks/results/chorale-sampler-sweep.json`` and prints one row per variant.  Each
variant samples ``n`` pieces of 16 bars (``--seeds 1,2,3`` runs sampling seeds 1001, 2001, 3001;
batches of 25, as ``bench_chorales.py``), one
draw each (no best-of: the sampler alone; ``--best-of 4`` chooses as ``composer generate`` does), and
is measured by the same code as Bach's test split
(``chorale_figures``): chord types per beat, half-note and 16th shares, music21's key against the
chosen one, and the classifier two-sample AUC with its most telling features.

Variants: temperature, ``relief`` (the soft key penalizing the raised fourth, and in minor the
raised sixth, at a quarter of its weight: ``odds.CHROMATIC_RELIEF``), the no-parallels rule,
typed against plain sampling (``SampleOptions.typed``), full chords on the beats and repeated
notes as a kind of their own (``SampleOptions.full_chords``, ``repeats``); ``raw`` (the model's own odds, no
rule) and ``d-*`` (the default with one rule undone): where the texture test's zigzags come from.  Each row
also gives the texture AUC and the voices' conditional motion shares (``motion_figures``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_chorales import generated_from_model, real_pieces  # noqa: E402
from chorale_figures import FEATURES, excerpts, figures_of, two_sample_auc  # noqa: E402

from composer.config import SampleOptions  # noqa: E402

#: name -> (sampling options, chromatic relief by mode or None)
NO_RELIEF: dict[bool, tuple[int, ...]] = {False: (), True: ()}
RELIEF: dict[bool, tuple[int, ...]] = {False: (6,), True: (6, 9)}
RELIEF_B7: dict[bool, tuple[int, ...]] = {False: (6, 10), True: (6, 9, 10)}  # also the lowered / natural 7th
VARIANTS: dict[str, tuple[dict[str, Any], dict[bool, tuple[int, ...]] | None]] = {
    "default": ({}, None),  # composer generate's sampler as it is
    "no-relief": ({"typed": False}, NO_RELIEF),  # the first sweep's variants: plain sampling
    "t0.9": ({"temperature": 0.9, "typed": False}, NO_RELIEF),
    "t1.0": ({"temperature": 1.0, "typed": False}, NO_RELIEF),
    "relief": ({"typed": False}, RELIEF),
    "t0.9+relief": ({"temperature": 0.9, "typed": False}, RELIEF),
    "free-parallels": ({"no_parallels": False, "typed": False}, None),
    "plain": ({"typed": False}, None),
    "typed": ({"typed": True}, None),
    "typed-t0.7": ({"typed": True, "temperature": 0.7}, None),
    "relief-b7": ({}, RELIEF_B7),
    "before-chords": ({"full_chords": False, "repeats": None, "phrase_rests": None}, None),  # before full chords
    "open-chords": ({"full_chords": False}, None),
    "repeats-as-pitches": ({"repeats": None}, None),
    "repeats-1.0": ({"repeats": 1.0}, None),
    "free-rests": ({"phrase_rests": None}, None),
    "relief-0.5": ({"raised_penalty": 0.5}, None),
    "relief-0": ({"raised_penalty": 0.0}, None),
    "relief-0.25": ({"raised_penalty": 0.25}, None),
    # the default at 3c6e394
    "previous-default": ({"full_chords": False, "repeats": None, "phrase_rests": None, "raised_penalty": 0.25}, None),
    # issue 11's AUC: pitch temperature under typed sampling, the seventh relieved, four pitch classes
    "typed-t0.9": ({"temperature": 0.9}, None),
    "typed-t1.0": ({"temperature": 1.0}, None),
    "seventh-0.5": ({"seventh_penalty": 0.5}, None),
    "seventh-0.25": ({"seventh_penalty": 0.25}, None),
    "seventh-minor-0.25": ({"seventh_penalty": 0.25}, None),  # SEVENTH_ONLY below: the natural 7th in minor only
    "four-pcs-0.7": ({"four_pcs": 0.7}, None),
    "four-pcs-0.5": ({"four_pcs": 0.5}, None),
    "four-pcs-0.3": ({"four_pcs": 0.3}, None),
}
#: Variants that choose among the best-of candidates by another score (``select.analysis_score`` set for the run;
#: ``select.KEY_MATCH`` is still added when the analysed key is the piece's own).
SELECTION_VARIANTS = ("select-no-clarity", "select-half-clarity", "select-ending-only")
for _name in SELECTION_VARIANTS:
    VARIANTS[_name] = ({}, None)


def selection_score(name: str) -> Any:
    """The candidate score of a selection variant: ``harmony.analysis_score`` with its key-clarity weight changed."""
    clarity_weight = {"select-no-clarity": 0.0, "select-half-clarity": 0.2, "select-ending-only": 0.0}[name]
    smooth_weight = 0.0 if name == "select-ending-only" else 0.35

    def score(a: Any) -> float:
        final = a.final_cadence
        ending = (0.0 if final is None else (1.0 if final.subtype == "perfect" else 0.75)
                  if final.kind == "authentic" else 0.5)
        return (clarity_weight * min(max(a.key.correlation, 0.0), 1.0)
                + smooth_weight / (1.0 + a.faults_per_100_beats / 10.0) + 0.25 * ending)
    return score


#: A diagnostic, not a candidate default: the keys drawn with the test split's share of minor pieces (24 of 41
#: by the corpus's key, 59%; the training split 43%, DEFAULT_KEYS 6 of 13, 46%), so the pitch-class features
#: (degrees above the tonic) compare like with like.  ``satb.DEFAULT_KEYS`` set for the run.
KEYS_AS_TEST = ("G major", "C major", "D major", "F major", "A major", "Bb major", "Eb major",
                "A minor", "D minor", "E minor", "G minor", "B minor", "C minor",
                "A minor", "D minor", "E minor", "G minor")
KEY_VARIANTS = {"keys-as-test": KEYS_AS_TEST, "four-pcs-0.5+keys-as-test": KEYS_AS_TEST}
VARIANTS["keys-as-test"] = ({}, None)
VARIANTS["four-pcs-0.5+keys-as-test"] = ({"four_pcs": 0.5}, None)
VARIANTS["seventh-minor-0.5"] = ({"seventh_penalty": 0.5}, None)
VARIANTS["degrees-0.8"] = ({"degree_odds": 0.8}, None)
VARIANTS["degrees-0.4"] = ({"degree_odds": 0.4}, None)
VARIANTS["degrees-0.8+four-pcs-0.5"] = ({"degree_odds": 0.8, "four_pcs": 0.5}, None)
VARIANTS["degrees-1.0+four-pcs-0.6"] = ({"degree_odds": 1.0, "four_pcs": 0.6}, None)
# Where the zigzags come from (issue 11, the texture test): the model's own odds with no rule, then the default
# with one rule at a time undone.
RAW = {"temperature": 1.0, "top_p": 1.0, "typed": False, "no_parallels": False, "full_chords": False,
       "repeats": None, "phrase_rests": None, "four_pcs": None, "degree_odds": None}
VARIANTS["raw"] = (RAW, None)
VARIANTS["raw-no-key"] = (RAW | {"key_bias": 0.0}, None)
VARIANTS["d-free-parallels"] = ({"no_parallels": False}, None)
VARIANTS["d-repeats-none"] = ({"repeats": None}, None)
VARIANTS["d-no-degrees"] = ({"degree_odds": None}, None)
VARIANTS["d-no-four-pcs"] = ({"four_pcs": None}, None)
VARIANTS["d-t1.0"] = ({"temperature": 1.0}, None)
VARIANTS["d-top-p-1"] = ({"top_p": 1.0}, None)
VARIANTS["d-t1.0-top-p-1"] = ({"temperature": 1.0, "top_p": 1.0}, None)
VARIANTS["d-untyped"] = ({"typed": False}, None)
VARIANTS["motion-1.5"] = ({"motion_odds": 1.5}, None)
VARIANTS["motion-1.0"] = ({"motion_odds": 1.0}, None)
VARIANTS["d-no-phrase-odds"] = ({"phrase_odds": None}, None)  # a fermata at the model's odds whatever the phrase
VARIANTS["phrase-odds-0.5"] = ({"phrase_odds": 0.5}, None)
for _odds in (0.3, 0.5, 0.7):  # a new note on a beat a semitone from one struck above it (SampleOptions.clash_odds)
    VARIANTS[f"clash-{_odds}"] = ({"clash_odds": _odds}, None)
VARIANTS["clash-none"] = ({"clash_odds": None}, None)
for _odds in (0.5, 1.0):  # a voice's new notes between the beats at Bach's rates (SampleOptions.onset_odds)
    VARIANTS[f"onsets-{_odds}"] = ({"onset_odds": _odds}, None)
VARIANTS["onsets-none"] = ({"onset_odds": None}, None)
for _odds in (5.0, 20.0, 100.0):  # a new note right after one at a 16th's place (SampleOptions.sixteenth_odds)
    VARIANTS[f"sixteenth-{_odds:g}"] = ({"sixteenth_odds": _odds}, None)
VARIANTS["sixteenth-none"] = ({"sixteenth_odds": None}, None)
for _odds in (0.5, 1.0):  # the bass's next degree after its last (SampleOptions.bass_odds)
    VARIANTS[f"bass-{_odds}"] = ({"bass_odds": _odds}, None)
VARIANTS["bass-none"] = ({"bass_odds": None}, None)


#: Variants that relieve the seventh in one mode only (``odds.SEVENTH`` set for the run).
SEVENTH_ONLY: dict[str, dict[bool, tuple[int, ...]]] = {"seventh-minor-0.25": {False: (), True: (10,)},
                                                      "seventh-minor-0.5": {False: (), True: (10,)}}
#: The full-chord and repeated-note variants tried on the way (chorale-sampler-sweep-chords-1..5.json: open
#: chords only avoided, any seventh preferred, the bass alone, other repeat odds) ran at commit c1ebdcb,
#: with module switches of that commit; the ones kept are options now (``full_chords``, ``repeats``).
RELIEF_FACTOR = 0.25


def best_of_pieces(model: str, n: int, seed: int, options: SampleOptions, best_of: int) -> list[Any]:
    """``n`` pieces as ``composer generate -n N --seed S --best-of K`` chooses them (its batches and selection)."""
    import tempfile

    from bench_chorales import _written

    from composer.generation.record import Request
    from composer.generation.select import sample_best

    pieces = sample_best(Request(model, n=n, best_of=best_of, bars=16, options=replace(options, seed=seed))).pieces
    with tempfile.TemporaryDirectory() as tmp:
        return [_written(p, Path(tmp), f"generated-{i + 1:03d}", 16) for i, p in enumerate(pieces)]


def run(model: str, name: str, n: int, real: list[Any], seed: int = 1, best_of: int = 1) -> dict[str, Any]:
    from composer.generation import odds, satb, select

    opts, relief = VARIANTS[name]
    old_score, old_keys = select.analysis_score, satb.DEFAULT_KEYS
    satb.DEFAULT_KEYS = KEY_VARIANTS.get(name, old_keys)
    if name in SELECTION_VARIANTS:
        select.analysis_score = selection_score(name)
    old, old_seventh = odds.CHROMATIC_RELIEF, odds.SEVENTH
    odds.SEVENTH = SEVENTH_ONLY.get(name, old_seventh)
    if relief is not None:
        odds.CHROMATIC_RELIEF = relief
        opts = {"raised_penalty": RELIEF_FACTOR if relief in (RELIEF, RELIEF_B7) else 1.0} | opts
    t0 = time.perf_counter()
    try:
        gen = (generated_from_model(model, n, 16, seed, 25, None, SampleOptions(**opts)) if best_of == 1
               else best_of_pieces(model, n, seed, SampleOptions(**opts), best_of))
    finally:
        odds.CHROMATIC_RELIEF, odds.SEVENTH = old, old_seventh
        select.analysis_score, satb.DEFAULT_KEYS = old_score, old_keys
    silent, long_silences = silences(gen)
    f = figures_of(gen) | {"repeated_notes": repeated_share(gen)}
    test = two_sample_auc(real, gen, seed=1)
    texture = two_sample_auc(real, gen, seed=1, texture=True)
    return {
        "variant": name, "seed": seed, "best_of": best_of, "options": opts,
        "relief": {str(k): v for k, v in (relief or {}).items()},
        "triad": f["triad_share"], "seventh": f["seventh_share"], "open": f["open_share"],
        "cluster": f["cluster_share"], "half_notes": f["half_note_share"],
        "sixteenths": f["durations"].get("0.25") or 0.0, "repeated_notes": f["repeated_notes"],
        "key_found_is_chosen": f["key_found_is_chosen"]["share"],
        "authentic_final": f["authentic_final"]["share"], "faults_per_100_beats": f["faults_per_100_beats"],
        "pieces_with_silent_beat": silent, "silences_over_a_beat": long_silences,
        "auc": test["auc"], "top_features": test["top_features"][:5],
        "auc_texture": texture["auc"], "top_texture_features": texture["top_features"][:5],
        "seconds": round(time.perf_counter() - t0, 1),
        "degrees_by_mode": degrees_by_mode(gen),
    } | motion_figures(gen)


def motion_figures(pieces: list[Any]) -> dict[str, Any]:
    """The voices' conditional motion shares (``chorale_motion``), their total variation from Bach's training side.

    Bach's counts are read from ``results/chorale-motion-none.json`` (``chorale_motion.py``: the 294 training
    chorales of ``bach-chorales``, cut to 16 bars).
    """
    from collections import Counter

    from chorale_figures import MOTIONS
    from chorale_motion import counts, shares

    bach = json.loads((HERE / "results" / "chorale-motion-none.json").read_text())["bach"]
    sb = shares(Counter({tuple(k.split(">")): v for k, v in bach.items()}))
    sg = shares(counts([p.analysis.piece.voices for p in pieces]))
    tv = sum(0.5 * sum(abs(x - y) for x, y in zip(sb[m], sg[m], strict=True)) for m in MOTIONS)
    return {"motion_tv": round(tv, 4), "motion_shares": {m: [round(x, 4) for x in sg[m]] for m in MOTIONS},
            "up_then_up": round(sg["S+"][1], 4), "up_then_down": round(sg["S+"][2], 4),
            "down_then_down": round(sg["S-"][2], 4), "down_then_up": round(sg["S-"][1], 4)}


def degrees_by_mode(pieces: list[Any]) -> dict[str, Any]:
    """Per mode of music21's key: the pieces, the share of notes on each degree (0..11 semitones above the tonic)."""
    from collections import Counter

    from composer.keys import parse_key

    out: dict[str, Any] = {}
    for mode in ("major", "minor"):
        mine = [p for p in pieces if p.analysis.key.name.lower().endswith(mode)]
        c: Counter[int] = Counter((n.pitch - parse_key(p.analysis.key.name) // 2) % 12
                                  for p in mine for n in p.analysis.piece.notes)
        total = max(sum(c.values()), 1)
        out[mode] = {"pieces": len(mine), "degrees": [round(c[i] / total, 4) for i in range(12)]}
    return out


def silences(pieces: list[Any]) -> tuple[float, int]:
    """Share of pieces with a silent beat between their first and last notes, and silences over a beat."""
    from chorale_figures import sounding_at

    with_silence, long_ones = 0, 0
    for p in pieces:
        notes = sorted(p.analysis.piece.notes)
        starts = [n.start for n in notes]
        run, runs = 0, []
        for t in range(int(notes[0].start), int(max(n.end for n in notes))):
            if sounding_at(notes, starts, float(t)):
                runs, run = runs + [run] * (run > 0), 0
            else:
                run += 1
        with_silence += bool(runs)
        long_ones += sum(r > 1 for r in runs)
    return round(with_silence / max(len(pieces), 1), 4), long_ones


def repeated_share(pieces: list[Any]) -> float:
    """Mean share of repeated notes among a voice's melodic steps, over the 8-bar excerpts."""
    col = FEATURES.index("melodic interval:0")
    rows = [x[col] for ex in excerpts(pieces) for x in ex]
    return round(sum(rows) / max(len(rows), 1), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="chorales")
    ap.add_argument("-n", "--num", type=int, default=100)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seeds", default="1", help="comma-separated sampling seeds; each variant runs once per seed")
    ap.add_argument("--best-of", type=int, default=1,
                    help="candidates per piece, the best kept as composer generate does (default 1: the sampler alone)")
    ap.add_argument("--split", default="test", choices=["test", "valid"],
                    help="Bach's side: the test split (default) or the validation split (to choose on)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "chorale-sampler-sweep.json")
    args = ap.parse_args()
    os.environ.setdefault("COMPOSER_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    real = real_pieces("bach-chorales", 16, split=args.split)
    bach = figures_of(real)
    rows, means = [], {}
    seeds = [int(x) for x in args.seeds.split(",")]
    for name in args.variants.split(","):
        mine = []
        for seed in seeds:
            row = run(args.model, name, args.num, real, seed * 1000 + 1, args.best_of)
            rows.append(row)
            mine.append(row)
            _print(name, row)
        means[name] = {k: round(sum(r[k] for r in mine) / len(mine), 4) for k in NUMERIC}
        if len(seeds) > 1:
            _print(f"{name} (mean)", means[name])
    out = {"model": args.model, "n": args.num, "bars": 16, "best_of": args.best_of, "split": args.split,
           "seeds": [s * 1000 + 1 for s in seeds],
           "relief_factor": RELIEF_FACTOR,
           "bach": {k: bach[k] for k in ("triad_share", "seventh_share", "open_share", "cluster_share",
                                         "half_note_share", "faults_per_100_beats")}
           | {"sixteenths": bach["durations"].get("0.25"), "repeated_notes": repeated_share(real),
              "pieces_with_silent_beat": silences(real)[0], "silences_over_a_beat": silences(real)[1],
              "degrees_by_mode": degrees_by_mode(real)},
           "means": means, "variants": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"Bach: {out['bach']}; JSON: {args.out}")


NUMERIC = ("triad", "seventh", "open", "cluster", "half_notes", "sixteenths", "repeated_notes", "key_found_is_chosen",
           "authentic_final", "faults_per_100_beats", "pieces_with_silent_beat", "silences_over_a_beat", "auc",
           "auc_texture", "seconds")


def _print(name: str, row: dict[str, Any]) -> None:
    print(f"{name:20s} triad {row['triad']:.3f} 7th {row['seventh']:.3f} open {row['open']:.3f} "
          f"cluster {row['cluster']:.3f} half {row['half_notes']:.3f} 16th {row['sixteenths']:.3f} "
          f"rep {row['repeated_notes']:.3f} "
          f"key {row['key_found_is_chosen']:.2f} auth {row['authentic_final']:.2f} "
          f"faults {row['faults_per_100_beats']:.2f} silent {row['pieces_with_silent_beat']:.2f} "
          f">1 beat {row['silences_over_a_beat']} AUC {row['auc']:.3f} texture AUC {row['auc_texture']:.3f} "
          f"motion TV {row.get('motion_tv', float('nan')):.3f} S+>S+ {row.get('up_then_up', float('nan')):.3f} "
          f"S+>S- {row.get('up_then_down', float('nan')):.3f} S->S- {row.get('down_then_down', float('nan')):.3f} "
          f"({row['seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
