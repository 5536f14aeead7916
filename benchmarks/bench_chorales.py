"""Generated chorales against Bach, the same analysis on both sides (issue 11 targets).

Generated pieces come from a folder of MIDI files (``--generated DIR``) or from a model sampled in
this process (``--model NAME -n 100 --bars 16 --seed 1``, ``composer generate``'s sampling
defaults: temperature 0.8, top-p 0.95, key bias 1.0; seeds ``seed, seed + batch, ...`` per batch
of ``--batch``).  The real pieces are the test split of the
built ``bach-chorales`` corpus (its MIDI renderings ``midi/ID.mid``), each cut to its first
``--bars`` bars.  Every piece is written/read as MIDI and goes through ``composer.harmony``
(``load_piece``, ``analyze_piece``); a piece of four monophonic tracks keeps them as its voices, a
one-track piece is split into voices by pitch order.  The rules of every figure are in
``benchmarks/chorale_figures.py``; "Bach, one track" is Bach with the tracks merged first, so its
voices are found by pitch order as the one-track generated pieces' are; "Bach, whole pieces" is
not cut: its final chords are the real endings (about half of the 42 test chorales are longer than
16 bars, so a cut piece often "ends" mid-phrase).

``--harmonize`` also harmonizes each test chorale's soprano (its highest voice) with the model
(``composer.generation.harmonize``) and reports the same figures plus the share of Bach's beats
whose chord root / root and function (Roman numeral without figures) the harmonization matches (on the
first ``--bars`` bars).  ``--harmonize-only`` does only that; ``--harmonize-whole`` harmonizes the whole
sopranos (figures on the cut and on the whole; the final chord is then the tune's own);
``--harmonize-best-of N`` chooses as ``composer continue --voices --best-of N`` does; ``--split valid`` puts
the validation chorales on Bach's side (for choosing settings; the test split is measured once).

Usage: python benchmarks/bench_chorales.py --model chorales -n 100 --bars 16 --seed 1 [--harmonize]
       python benchmarks/bench_chorales.py --harmonize-only --harmonize-whole --harmonize-best-of 4 --seed 1
       python benchmarks/bench_chorales.py --generated out/ --bars 16
Writes JSON (default benchmarks/results/chorales-music.json) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from composer.cli.options import FILE_TOP_P
from composer.config import DEFAULT_TEMPERATURE, SampleOptions

if __package__:  # imported as benchmarks.bench_chorales
    from benchmarks.bench_args import add_options, options_of
    from benchmarks.chorale_figures import Chorale, figures_of, label_match, load_chorale, piece_counts, two_sample_auc
else:  # run as a script, or imported with benchmarks/ on sys.path
    from bench_args import add_options, options_of
    from chorale_figures import Chorale, figures_of, label_match, load_chorale, piece_counts, two_sample_auc

__all__ = ["Chorale", "figures_of", "generated_from_dir", "generated_from_model", "real_pieces", "two_sample_auc"]

warnings.filterwarnings("ignore")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="chorales", help="model to sample and harmonize with (default: chorales)")
    ap.add_argument("--generated", type=Path, help="folder of generated MIDI files instead of sampling the model")
    ap.add_argument("-n", "--num", type=int, default=100, help="pieces to generate")
    ap.add_argument("--bars", type=int, default=16, help="bars per piece (both sides are cut to this)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=25, help="pieces sampled together")
    ap.add_argument("--top-p", type=float, default=FILE_TOP_P, help="nucleus mass (default: composer generate's)")
    ap.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    ap.add_argument("--corpus", default="bach-chorales", help="built corpus whose test split is the reference")
    ap.add_argument("--harmonize", action="store_true", help="also harmonize the test sopranos with the model")
    ap.add_argument("--harmonize-best-of", type=int, default=1, metavar="N",
                    help="harmonize as `continue --voices --best-of N` does: the best of N by the analysis (default 1)")
    ap.add_argument("--harmonize-only", action="store_true", help="only the harmonizing figures (no generation)")
    ap.add_argument("--split", default="test", choices=["test", "valid"],
                    help="Bach's side: the corpus's test split (default) or valid")
    ap.add_argument("--tune-relative", choices=["on", "off"],
                    help="set generation.satb.TUNE_RELATIVE (a tune's candidates also in its relative key)")
    ap.add_argument("--harmonize-whole", action="store_true",
                    help="harmonize the whole sopranos (figures on the cut and on the whole) instead of the cut ones")
    ap.add_argument("--phrase-ends", choices=["marked", "none"], default="marked",
                    help="harmonize each soprano with its phrase ends (the corpus file's fermata markers, read as "
                         "`composer continue --voices` reads a file's) or without (a melody with no marks)")
    add_options(ap, '{"phrase_choice": false}')
    ap.add_argument("--keep", type=Path, help="write the generated / harmonized MIDI files here")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/chorales-music.json"))
    args = ap.parse_args(argv)
    args.option_fields = options_of(ap, args.options)  # (checked: a one-line error, exit 2)
    return args


# ---------------------------------------------------------------- pieces


def real_pieces(corpus: str = "bach-chorales", bars: int | None = 16, merge: bool = False,
                split: str = "test") -> list[Chorale]:
    """The corpus's ``split`` (the test split unless told) from its MIDI renderings, each cut to ``bars`` bars
    (None: whole pieces)."""
    from composer.corpus import load_corpus

    c = load_corpus(corpus)
    return [load_chorale(c.root / "midi" / f"{rec['id']}.mid", bars, merge=merge) for rec in c.pieces(split)]


def written_key(path: Path) -> str | None:
    """The key a file says it is in: its first key-signature event (composer writes the piece's key)."""
    from symusic import Score

    from composer.keys import KEY_NAMES, key_signature

    sigs = Score(str(path)).key_signatures
    if not len(sigs):
        return None
    want = (int(sigs[0].key), int(sigs[0].tonality))
    return next((name for i, name in enumerate(KEY_NAMES) if key_signature(i) == want), None)


def generated_from_dir(folder: Path, bars: int = 16) -> list[Chorale]:
    """Every ``*.mid`` / ``*.midi`` in ``folder`` (sorted), cut to ``bars`` bars; the chosen key is the
    file's key signature (unknown without one)."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mid", ".midi"))
    return [load_chorale(p, bars, chosen_key=written_key(p)) for p in paths]


def _written(piece: Any, folder: Path, name: str, bars: int) -> Chorale:
    """A ``GeneratedPiece`` written as MIDI (its own track layout) and read back like any file."""
    path = piece.write(folder / f"{name}.mid", force=True)
    c = load_chorale(path, bars, chosen_key=getattr(piece, "key", "") or None)
    c.meta = {"seed": getattr(piece, "seed", None), **getattr(piece, "meta", {})}
    return c


def generated_from_model(model: str, n: int = 100, bars: int = 16, seed: int = 1, batch: int = 25,
                         keep: Path | None = None, options: SampleOptions | None = None) -> list[Chorale]:
    """``n`` pieces sampled with ``options`` (default: ``composer generate``'s), seed ``seed + i`` for the
    batch starting at piece ``i``."""
    from composer.generation import sample_pieces

    options = options or SampleOptions(top_p=FILE_TOP_P)

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(0, n, batch):
            opts = replace(options, seed=seed + i)
            for j, p in enumerate(sample_pieces(model, n=min(batch, n - i), bars=bars, options=opts)):
                out.append(_written(p, folder, f"generated-{i + j + 1:03d}", bars))
    return out


def phrase_ends(corpus: str, pieces: list[Chorale]) -> dict[str, tuple[float, ...]]:
    """Each piece's fermata onsets as a primer reads them from its corpus MIDI file (its ``fermata`` markers)."""
    from composer.corpus import load_corpus
    from composer.generation.primer import primer_from_midi

    root = load_corpus(corpus).root
    return {c.name: primer_from_midi(root / "midi" / f"{c.name}.mid").fermatas for c in pieces}


def harmonized(model: str, real: list[Chorale], seed: int = 1, keep: Path | None = None,
               options: SampleOptions | None = None, best_of: int = 1,
               whole: list[Chorale] | None = None,
               fermatas: dict[str, tuple[float, ...]] | None = None) -> list[Chorale]:
    """Each real piece's soprano (highest voice) harmonized by ``model`` (seed ``seed + i``), cut alike.

    ``best_of`` > 1: the best of that many by the analysis, as ``composer continue --voices`` chooses.
    ``whole`` (Bach's whole pieces, in ``real``'s order): their whole sopranos are harmonized instead, and
    the list's items are replaced by the harmonizations read whole; the pieces returned are cut as
    ``real``'s.  ``fermatas``: each piece's phrase ends (onsets, beats) given with its melody, by name.
    """
    from composer.generation import Primer, Request, best_continuation, harmonize

    options = options or SampleOptions(top_p=FILE_TOP_P)

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for i, bach in enumerate(real):
            p = (whole[i] if whole is not None else bach).analysis.piece
            primer = Primer(tuple(p.voices[0]), time_signature=(p.numerator, p.denominator),
                            fermatas=(fermatas or {}).get(bach.name, ()))
            opts = replace(options, seed=seed + i)
            if best_of > 1:
                piece = best_continuation(primer, Request(checkpoint=model, best_of=best_of, options=opts,
                                                          voices=True)).pieces[0]
            else:
                piece = harmonize(primer, model, options=opts)
            c = _written(piece, folder, f"harmonized-{bach.name}", bach.bars)
            c.meta["marked"] = marked_cadences(folder / f"harmonized-{bach.name}.mid", bach.name, fermatas)
            if whole is not None:
                whole[i] = load_chorale(folder / f"harmonized-{bach.name}.mid", None,
                                        chosen_key=getattr(piece, "key", "") or None)
            melody = {(round(n.start, 3), n.pitch) for n in p.voices[0]}
            written = (whole[i] if whole is not None else c).analysis.piece.notes  # the melody harmonized
            kept = melody & {(round(n.start, 3), n.pitch) for n in written}
            c.meta["melody_kept"] = len(kept) / max(len(melody), 1)
            out.append(c)
    return out


def match_figures(real: list[Chorale], harm: list[Chorale]) -> dict[str, Any]:
    """Pooled shares of Bach's beats whose root / root and function the harmonizations match."""
    rows = [label_match(b, h) for b, h in zip(real, harm, strict=True)]
    beats = sum(r["beats"] for r in rows)
    return {
        "beats": beats,
        "root_share": round(sum(r["root"] for r in rows) / max(beats, 1), 4),
        "root_and_function_share": round(sum(r["root_and_function"] for r in rows) / max(beats, 1), 4),
        "melody_kept": round(sum(h.meta["melody_kept"] for h in harm) / max(len(harm), 1), 4),
    }


def merged_fermatas(fermatas: Any, beat: float = 1.0) -> list[float]:
    """Fermata onsets, those within a beat and a half of the one kept before dropped: the corpus marks each voice's
    fermata note, and the grid marks every step of one held over a second soprano note (the same phrase end)."""
    merged: list[float] = []
    for f in sorted(fermatas):
        if not merged or f - merged[-1] >= 1.5 * beat:
            merged.append(f)
    return merged


def phrase_end_cadences(pieces: list[Chorale], ends: list[tuple[float, ...]]) -> dict[str, Any]:
    """How many of the melodies' inner phrase ends (each piece's fermatas less its last) have a cadence
    within a beat, as the analysis reads the piece (from MIDI: it is not told where the fermatas are)."""
    total = hit = 0
    for c, fermatas in zip(pieces, ends, strict=True):
        offsets = [cad.offset for cad in c.analysis.cadences]
        inner = merged_fermatas(fermatas)[:-1]
        total += len(inner)
        hit += sum(any(abs(o - f) <= 1.0 for o in offsets) for f in inner)
    return {"fermatas": total, "with_cadence": hit, "share": round(hit / max(total, 1), 4)}


def marked_cadences(path: Path, name: str, fermatas: dict[str, tuple[float, ...]] | None) -> tuple[int, int]:
    """(inner phrase ends with a cadence within a beat, inner phrase ends) as ``composer analyze`` reads the file:
    told where the fermatas are by its markers (composer's files and the corpus's renderings carry them)."""
    from composer.harmony import analyze_file

    inner = merged_fermatas((fermatas or {}).get(name, ()))[:-1]
    offsets = [cad.offset for cad in analyze_file(path).cadences] if inner else []
    return sum(any(abs(o - f) <= 1.0 for o in offsets) for f in inner), len(inner)


def _share(pairs: list[tuple[int, int]]) -> dict[str, Any]:
    hit, total = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    return {"fermatas": total, "with_cadence": hit, "share": round(hit / max(total, 1), 4)}


def piece_rows(pieces: list[Chorale]) -> list[dict[str, Any]]:
    """One line per piece for the JSON: keys, beat kinds, faults, cadences, the final cadence."""
    rows = []
    for c in pieces:
        r = piece_counts(c)
        final = c.analysis.final_cadence
        rows.append({"name": c.name, "chosen_key": c.chosen_key, "found_key": c.analysis.key.name,
                     "bars": c.bars, **{k: r[k] for k in ("beats", "triad", "seventh", "open", "cluster", "clash",
                                                          "parallels", "faults", "cadences")},
                     "final_cadence": final.kind if final else None, "tonic_final": r["tonic_final_found"]})
    return rows


# ---------------------------------------------------------------- report


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _count(d: dict[str, Any]) -> str:
    return "—" if not d["of"] else f"{d['count']} of {d['of']} ({_pct(d['share'])})"


ROWS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("pieces / sounding beats", lambda f: f"{f['pieces']} / {f['beats']}"),
    ("beats: triad / seventh / open / cluster",
     lambda f: " / ".join(_pct(f[f"{k}_share"]) for k in ("triad", "seventh", "open", "cluster"))),
    ("beats: triad or seventh", lambda f: _pct((f["triad_share"] or 0) + (f["seventh_share"] or 0))),
    ("beats with a semitone clash", lambda f: _pct(f["clash_share"])),
    ("parallel fifths + octaves per 100 beats", lambda f: _num(f["parallels_per_100_beats"])),
    ("`composer analyze` faults per 100 beats", lambda f: _num(f["faults_per_100_beats"])),
    ("cadences per 16 bars", lambda f: _num(f["cadences_per_16_bars"])),
    ("authentic final cadence", lambda f: _count(f["authentic_final"])),
    ("final chord = tonic triad of music21's key", lambda f: _count(f["tonic_final_found_key"])),
    ("final chord = tonic triad of the chosen key", lambda f: _count(f["tonic_final_chosen_key"])),
    ("music21's key = chosen key", lambda f: _count(f["key_found_is_chosen"])),
    ("half notes among all notes", lambda f: _pct(f["half_note_share"])),
    ("durations 0.25/0.5/0.75/1/1.5/2/3/4/other",
     lambda f: " / ".join(f"{100 * v:.0f}" for v in f["durations"].values())),
    ("pitch-class entropy (bits)", lambda f: _num(f["pitch_class_entropy"])),
    ("in-scale share", lambda f: _pct(f["in_scale_share"])),
    ("voices from", lambda f: ", ".join(f"{k} {v}" for k, v in f["voices_from"].items())),
]


def table(columns: dict[str, dict[str, Any]]) -> str:
    """A markdown table: one row per figure, one column per set of pieces."""
    lines = ["| figure | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(fn(f) for f in columns.values()) + " |" for label, fn in ROWS]
    return "\n".join(lines)


def auc_lines(test: dict[str, Any]) -> list[str]:
    """The two-sample test in words."""
    folds = ", ".join(f"{a:.3f}" for a in test["auc_folds"])
    ex = test["excerpts"]
    out = [f"classifier two-sample test: AUC {test['auc']:.3f} (folds {folds}; pooled {test['auc_pooled']:.3f}); "
           f"{ex['real']} real / {ex['generated']} generated 8-bar excerpts", "most telling features "
           "(standardized coefficient, + = generated; mean real -> generated):"]
    out += [f"  {t['feature']}: {t['coef']:+.2f} ({t['mean_real']:.3f} -> {t['mean_generated']:.3f})"
            for t in test["top_features"]]
    return out


# ---------------------------------------------------------------- main


def _timed(timings: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    timings[name] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if (args.harmonize_whole or args.harmonize_best_of > 1) and not (args.harmonize or args.harmonize_only):
        raise SystemExit("--harmonize-whole / --harmonize-best-of need --harmonize or --harmonize-only")
    os.environ.setdefault("COMPOSER_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    t: dict[str, float] = {}
    opts = SampleOptions(**{"temperature": args.temperature, "top_p": args.top_p, **args.option_fields})
    real = _timed(t, "real_pieces_s", lambda: real_pieces(args.corpus, args.bars, split=args.split))
    merged = _timed(t, "real_one_track_s", lambda: real_pieces(args.corpus, args.bars, merge=True, split=args.split))
    whole = _timed(t, "real_whole_s", lambda: real_pieces(args.corpus, None, split=args.split))
    if args.tune_relative is not None:  # an experiment: harmonizing candidates in the relative key or not
        from composer.generation import satb

        satb.TUNE_RELATIVE = args.tune_relative == "on"
    keep_gen = args.keep / "generated" if args.keep else None
    if args.harmonize_only:
        gen = []
    elif args.generated:
        gen = _timed(t, "generated_s", lambda: generated_from_dir(args.generated, args.bars))
    else:
        gen = _timed(t, "generated_s", lambda: generated_from_model(args.model, args.num, args.bars, args.seed,
                                                                     args.batch, keep_gen, opts))
    columns = {"generated": figures_of(gen)} if gen else {}
    columns |= {"Bach": figures_of(real), "Bach, one track": figures_of(merged),
                "Bach, whole pieces": figures_of(whole)}
    result: dict[str, Any] = {"model": args.model,
                              "generated_dir": str(args.generated) if args.generated else None,
                              "corpus": args.corpus, "bars": args.bars, "num": len(gen), "seed": args.seed,
                              "batch": args.batch, "sampling": opts.to_dict(), "figures": columns}
    result["pieces"] = {"generated": piece_rows(gen), "Bach": piece_rows(real)}
    if gen:
        result["two_sample"] = _timed(t, "two_sample_s", lambda: two_sample_auc(real, gen, seed=args.seed))
        result["two_sample_texture"] = two_sample_auc(real, gen, seed=args.seed, texture=True)
    if args.harmonize or args.harmonize_only:
        keep_harm = args.keep / "harmonized" if args.keep else None
        harm_whole: list[Chorale] | None = list(whole) if args.harmonize_whole else None
        marks = phrase_ends(args.corpus, real) if args.phrase_ends == "marked" else None
        harm = _timed(t, "harmonize_s", lambda: harmonized(args.model, real, args.seed, keep_harm, opts,
                                                          args.harmonize_best_of, harm_whole, marks))
        result["harmonize_phrase_ends"] = args.phrase_ends
        result["harmonize_whole"] = bool(args.harmonize_whole)
        result["harmonize_best_of"] = args.harmonize_best_of
        columns["harmonized (Bach's soprano)"] = figures_of(harm)
        if harm_whole is not None:
            columns["harmonized, whole pieces"] = figures_of(harm_whole)
            by_name = phrase_ends(args.corpus, whole)  # Bach's, whatever the melodies were given
            ends = [by_name[c.name] for c in whole]
            result["phrase_end_cadences"] = {"Bach": phrase_end_cadences(whole, ends),
                                             "harmonized": phrase_end_cadences(harm_whole, ends)}
            from composer.corpus import load_corpus

            root = load_corpus(args.corpus).root
            result["phrase_end_cadences_marked"] = {
                "Bach": _share([marked_cadences(root / "midi" / f"{c.name}.mid", c.name, by_name) for c in whole]),
                "harmonized": _share([c.meta["marked"] for c in harm])}
        result["harmonize_match"] = match_figures(real, harm)
        result["pieces"]["harmonized"] = piece_rows(harm)
    result["timings"] = t
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(table(columns))
    print()
    if gen:
        print("\n".join(auc_lines(result["two_sample"])))
        print("the same test on the texture features (chorale_figures.TEXTURE_FEATURES, which best-of selection's "
              "style model does not read):")
        print("\n".join(auc_lines(result["two_sample_texture"])))
    if "harmonize_match" in result:
        m = result["harmonize_match"]
        print(f"harmonized vs Bach's own chords on {m['beats']} beats: root {_pct(m['root_share'])}, root and "
              f"function {_pct(m['root_and_function_share'])}; melody notes kept {_pct(m['melody_kept'])}")
    if "phrase_end_cadences" in result:
        pe = result["phrase_end_cadences"]
        print(f"inner phrase ends (Bach's fermatas, {pe['Bach']['fermatas']}) with a cadence within a beat: harmonized "
              f"{_pct(pe['harmonized']['share'])}, Bach {_pct(pe['Bach']['share'])}")
        pm = result["phrase_end_cadences_marked"]
        print(f"the same, told where the fermatas are (the files' markers, as composer analyze reads them): harmonized "
              f"{_pct(pm['harmonized']['share'])}, Bach {_pct(pm['Bach']['share'])}")
    print(f"timings (s): {t}; JSON: {args.out}")
    return result


if __name__ == "__main__":
    main()
