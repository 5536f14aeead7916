"""The model's own odds of each melodic motion, read on Bach's chorales (teacher forcing), against Bach's motions.

Where do the sampler's zigzags come from?  For each new note of a voice in a split's chorales (the
corpus's token sequences, the model reading Bach's own notes before it), the model's probability of each
pitch token (among the new-note tokens: ``Pitch_*``), summed by the melodic motion it makes from the
voice's last note, by the voice's motion before (``odds.MOTIONS``).  If the model's expected shares equal
Bach's counted ones, a model that reads Bach continues his lines, and the zigzags of free sampling
come from its own context drifting (or the sampler); if they equal the sampler's, the model itself
turns back.

    python benchmarks/chorale_motion_forced.py --split test --out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from composer.corpus import load_corpus  # noqa: E402
from composer.dataset import full_sequence, load_pieces  # noqa: E402
from composer.generation import load_model  # noqa: E402
from composer.generation.odds import MOTIONS, motion_of  # noqa: E402


def count_motions(seq: np.ndarray, probs: np.ndarray, types: Sequence[str], pitch: np.ndarray,
                  expected: np.ndarray, counted: np.ndarray) -> None:
    """Add one piece to the (last motion, motion) tables: the model's mass (``probs``, (T - 1, V), the
    next token's odds at each position) over the new pitches, and the motions Bach's notes make."""
    is_new = np.array([t == "Pitch" for t in types])
    last, motion, voice = [-1] * 4, [-1] * 4, 0
    for t in range(1, len(seq)):
        kind = types[seq[t]]
        if kind == "Pos":
            voice = 0
            continue
        if kind not in ("Pitch", "Hold", "Rest"):
            continue
        v, voice = voice, voice + 1
        if kind != "Pitch" or v > 3:
            continue
        new = int(pitch[seq[t]])
        if last[v] >= 0 and motion[v] >= 0:
            q = probs[t - 1] * is_new
            q = q / q.sum()
            d = pitch - last[v]
            m2 = np.where(d == 0, 0, np.where(np.abs(d) <= 2, 1, 3) + (d < 0))
            for m in range(5):
                expected[motion[v], m] += q[is_new & (m2 == m)].sum()
            counted[motion[v], motion_of(new - last[v])] += 1
        if last[v] >= 0:
            motion[v] = motion_of(new - last[v])
        last[v] = new


def motion_rows(expected: np.ndarray, counted: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per last motion: the model's and Bach's shares of each next motion, and the notes counted."""
    return {m1: {"model": [round(float(x), 4) for x in expected[i] / expected[i].sum()],
                 "bach": [round(float(x), 4) for x in counted[i] / counted[i].sum()],
                 "notes": int(counted[i].sum())} for i, m1 in enumerate(MOTIONS)}


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="chorales")
    ap.add_argument("--corpus", default="bach-chorales-satb")
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    ck = load_model(a.model)
    codec, model = ck.codec, ck.model
    types = codec.types
    pitch = np.asarray(codec.pitch_of)
    expected = np.zeros((5, 5))  # the model's mass, by (last motion, motion)
    counted = np.zeros((5, 5))  # Bach's notes
    for p in load_pieces(load_corpus(a.corpus), a.split):
        seq = full_sequence(codec, p)
        if seq is None:
            continue
        with torch.no_grad():
            logits, _ = model(torch.from_numpy(seq[None, :-1]))
        count_motions(seq, torch.softmax(logits[0].float(), -1).numpy(), types, pitch, expected, counted)
    rows = motion_rows(expected, counted)
    for m1, row in rows.items():
        print(f"{m1:3s} model {row['model']}  Bach {row['bach']}  ({row['notes']} notes)")
    if a.out:
        a.out.write_text(json.dumps({"model": a.model, "split": a.split, "columns": MOTIONS, "rows": rows},
                                    indent=1) + "\n")


if __name__ == "__main__":
    main()
