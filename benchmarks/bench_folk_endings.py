"""Do folk tunes end on the tonic?  Generated (the bundled ``folk`` model) against the corpus (issue 11, item 2).

Both sides go through the same rule: the last note's pitch class equals the tonic of the key
Krumhansl-Schmuckler finds in the whole tune (``composer.keys.find_key``); also reported, the last
note lasting at least a beat (a close, not a cut).  The corpus side is the Essen folk songs that
music21 ships (``essenFolksong/*.abc``), read with music21 as the ``folk`` recipe reads them
(first ``--tunes`` of them, melody only).  The generated side: ``-n`` pieces of ``--bars`` bars
with ``composer generate``'s sampling defaults (one draw, the CLI's top-p 0.95).

Usage: python benchmarks/bench_folk_endings.py [-n 100] [--bars 16] [--tunes 300] [--seed 1]
Writes JSON (default benchmarks/results/folk-endings.json) and prints a small table.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

from composer.config import SampleOptions
from composer.events import Note
from composer.keys import find_key

warnings.filterwarnings("ignore")


def ending(notes: list[Note]) -> tuple[bool, bool]:
    """(last note on the tonic, last note at least a beat long)."""
    key = find_key(notes)[0]
    last = max(notes, key=lambda n: (n.start, n.pitch))
    return last.pitch % 12 == key // 2, last.duration >= 1.0 - 1e-6


def corpus_tunes(limit: int) -> list[list[Note]]:
    from music21 import converter, corpus

    tunes: list[list[Note]] = []
    for path in corpus.getPaths(fileExtensions=("abc",)):
        if "essenFolksong" not in str(path):
            continue
        try:
            opus = converter.parse(path)
        except Exception:  # noqa: BLE001 - a few ABC files music21 cannot read; the recipe skips them too
            continue
        for score in getattr(opus, "scores", [opus]):
            notes = [Note(float(n.offset), int(n.pitch.midi), float(n.quarterLength))
                     for n in score.flatten().notes if hasattr(n, "pitch") and n.quarterLength > 0]
            if len(notes) >= 8:
                tunes.append(notes)
            if len(tunes) >= limit:
                return tunes
    return tunes


def generated(n: int, bars: int, seed: int, ending: bool = True) -> tuple[list[list[Note]], float]:
    """The pieces, and the share whose last note is the tonic of the key the sampler chose."""
    from composer.cli.options import FILE_TOP_P
    from composer.generation import sample_pieces
    from composer.generation.grammar import RemiState
    from composer.keys import parse_key

    init = RemiState.__init__
    if not ending:  # the ablation: the grammar without its ending rule

        def no_ending(self: RemiState, *args: object, **kwargs: object) -> None:
            init(self, *args, **kwargs)  # type: ignore[arg-type]
            self.ending = False

        RemiState.__init__ = no_ending  # type: ignore[method-assign]
    try:
        pieces = [p for p in sample_pieces("folk", n=n, bars=bars, options=SampleOptions(seed=seed, top_p=FILE_TOP_P))
                  if p.notes]
    finally:
        RemiState.__init__ = init  # type: ignore[method-assign]
    chosen = [max(p.notes, key=lambda x: (x.start, x.pitch)).pitch % 12 == parse_key(p.key) // 2
              for p in pieces if p.key]
    return [p.notes for p in pieces], sum(chosen) / max(1, len(chosen))


def shares(tunes: list[list[Note]]) -> dict[str, float]:
    ends = [ending(t) for t in tunes]
    return {"pieces": len(ends), "tonic_last_note": sum(a for a, _ in ends) / len(ends),
            "long_last_note": sum(b for _, b in ends) / len(ends)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--num", type=int, default=100)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--tunes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/folk-endings.json"))
    args = ap.parse_args()
    t0 = time.monotonic()
    real = shares(corpus_tunes(args.tunes))
    t1 = time.monotonic()
    tunes, on_chosen = generated(args.num, args.bars, args.seed)
    gen = dict(shares(tunes), tonic_of_chosen_key=on_chosen)
    tunes, on_chosen = generated(args.num, args.bars, args.seed, ending=False)
    plain = dict(shares(tunes), tonic_of_chosen_key=on_chosen)
    t2 = time.monotonic()
    doc = {"corpus": real, "generated": gen, "generated_without_ending_rule": plain, "bars": args.bars,
           "seed": args.seed, "timings_s": {"corpus": round(t1 - t0, 1), "generated": round(t2 - t1, 1)}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print("| figure | generated | without the ending rule | Essen corpus |\n|---|---|---|---|")
    print(f"| pieces | {gen['pieces']} | {plain['pieces']} | {real['pieces']} |")
    for label, k in (("last note on the tonic (K-S key of the tune)", "tonic_last_note"),
                     ("last note >= 1 beat", "long_last_note")):
        print(f"| {label} | {100 * gen[k]:.1f}% | {100 * plain[k]:.1f}% | {100 * real[k]:.1f}% |")
    print(f"| last note on the chosen key's tonic | {100 * gen['tonic_of_chosen_key']:.1f}% | "
          f"{100 * plain['tonic_of_chosen_key']:.1f}% | — |")
    print(f"JSON: {args.out}; {doc['timings_s']}")


if __name__ == "__main__":
    main()
