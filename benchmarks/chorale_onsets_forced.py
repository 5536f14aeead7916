"""The model's own odds of a new note at a beat's eighth, read on Bach's chorales (teacher forcing), against Bach's.

Where does the texture test's ``0011`` rhythm deficit come from (a voice holding over the beat, then two 16ths:
Bach 1.36 % of the validation split's voice-beats, the sampler 0.09 %)?  At every eighth (third 16th) of a
quarter-note beat in a split's chorales (the corpus's token sequences, the model reading Bach's own notes before
it), the model's probability of a new note there (the ``Pitch_*`` tokens' share of the pitch, hold and rest tokens:
the kinds typed sampling draws from), by voice and by whether the voice struck at the beat or its second 16th
("struck") or held over it ("held"), against the share of those eighths where Bach strikes.  If the model's
expected share equals Bach's, it knows the rhythm and what free sampling loses comes from its own context drifting
(or the sampler); if it is lower, the model itself holds on.

    python benchmarks/chorale_onsets_forced.py --split test --out benchmarks/results/chorale-onsets-forced-test.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from composer.config import SampleOptions  # noqa: E402
from composer.corpus import load_corpus  # noqa: E402
from composer.dataset import load_pieces, scored_sequences  # noqa: E402
from composer.generation import load_model  # noqa: E402
from composer.generation.gridstate import GridState  # noqa: E402

CONDITIONS = ("struck", "held")


def eighth_odds(model: str, corpus: str, split: str) -> dict[str, Any]:
    """Per voice and condition: the model's mean odds of a new note at the eighth, Bach's share, the chances."""
    import torch

    torch.set_num_threads(1)
    ckpt = load_model(model)
    codec = ckpt.codec
    types = np.array(codec.types)
    kinds = {k: types == k for k in ("Pitch", "Hold", "Rest")}
    table = {(v, c): [0.0, 0, 0] for v in range(4) for c in CONDITIONS}  # expected, struck by Bach, chances
    net = ckpt.model.eval()
    for seq, _ in scored_sequences(codec, load_pieces(load_corpus(corpus), split, codec)):
        with torch.inference_mode():
            probs = torch.softmax(net(torch.tensor(seq[None, :-1]))[0][0].float(), -1).numpy()
        st = GridState(codec, SampleOptions(), bars=None)  # (read for its place in the grid: voice and step)
        struck = [-9] * 4  # each voice's last strike's step
        for i, tok in enumerate(seq[:-1].tolist()):
            v, step = st.voice, st.bar * st.bar_steps + st.pos
            st.update(tok)
            if v < 4 and st.last == "Voice" and types[tok] == "Pitch":
                struck[v] = step
            nxt = str(types[int(seq[i + 1])])
            v, step = st.voice, st.bar * st.bar_steps + st.pos
            if v >= 4 or st.beat != 4 or st.pos < 0 or st.pos % 4 != 2 or nxt not in kinds:
                continue
            condition = "held" if struck[v] < step - 2 else "struck"
            p = {k: float(probs[i][m].sum()) for k, m in kinds.items()}
            row = table[v, condition]
            row[0] += p["Pitch"] / max(sum(p.values()), 1e-30)
            row[1] += nxt == "Pitch"
            row[2] += 1
    return {f"{'SATB'[v]} {c}": {"model": round(e / max(n, 1), 4), "Bach": round(b / max(n, 1), 4), "chances": n}
            for (v, c), (e, b, n) in table.items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--model", default="chorales")
    ap.add_argument("--corpus", default="bach-chorales-satb")
    ap.add_argument("--split", default="test", choices=["train", "valid", "test"])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    result = {"model": args.model, "corpus": args.corpus, "split": args.split,
              "eighths": eighth_odds(args.model, args.corpus, args.split)}
    for name, row in result["eighths"].items():
        model, bach = 100 * row["model"], 100 * row["Bach"]
        print(f"{name:10s} model {model:5.1f} %  Bach {bach:5.1f} %  ({row['chances']} eighths)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
