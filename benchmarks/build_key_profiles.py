"""Key profiles learned from Bach chorales outside the accuracy benchmark (issue 13, round 5).

Run ``python benchmarks/build_key_profiles.py`` (under two minutes; music21 parses every chorale);
it writes ``results/chorale_key_profiles.json``.  Tried as the key HMM's emission model (alone,
mixed with the Temperley-Kostka-Payne profiles, and as a bass-note term) and not kept: see
``RESULTS.md``, issue 13, round 5.  The analysis does not read the table.

Training data: every Bach chorale score (``bach/bwv*.mxl``) in music21's corpus except the
chorales of the accuracy benchmark (``bench_analysis_accuracy.CHORALES``, tuning and held-out):
a score is left out when its BWV number and movement (the file name up to its first ``-``: any
variant or other part of the same setting) is one of the benchmark's, or when its music is one of
theirs (the same soprano and bass lines, transposed or not).

Each chorale's key is its global key, from the key signature and the final chord: the final
bass note is the tonic; major when it is the signature's major tonic (or its fifth, a
Mixolydian signature), minor when it is the signature's relative minor (or its second degree, a
Dorian signature); chorales ending elsewhere (a Phrygian or half-cadence close) are skipped.
music21's ``analyze('key')`` is not used: its profiles are what these replace.

Each beat of the chorale is read as the analysis reads it (:func:`composer.harmony.make_slices`:
every note's sounding time per pitch class, summed over the beat) and its pitch-class shares are
taken relative to the tonic; a mode's profile is the mean over its beats (each beat weighs the
same, as in the key HMM), mixed with the uniform distribution at :data:`SMOOTHING` so no pitch
class is impossible.  The same is counted for the bass note at each beat.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

OUT = HERE / "results" / "chorale_key_profiles.json"
SMOOTHING = 0.01  # weight of the uniform distribution mixed into each profile
MODE_OF_FINAL = {0: "major", 7: "major", 9: "minor", 2: "minor"}  # final bass above the signature's major tonic


def _base(stem: str) -> str:
    return stem.split("-")[0]


def _lines(piece: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Soprano and bass as interval sequences (transposition-free fingerprint)."""
    voices = [v for v in piece.voices if v] or [list(piece.notes)]

    def steps(v: Any) -> tuple[int, ...]:
        p = [n.pitch for n in v]
        return tuple(b - a for a, b in zip(p, p[1:], strict=False))

    return steps(voices[0]), steps(voices[-1])


def home_key(path: str | Path) -> tuple[Any, int, str] | None:
    """(the piece, tonic pc, mode) of a chorale from its key signature and final bass note, or None to skip."""
    from music21 import converter

    from composer.harmony import load_piece

    score: Any = converter.parse(str(path))
    sigs = list(score.recurse().getElementsByClass("KeySignature"))
    if not sigs:
        return None
    major_tonic = (7 * int(sigs[0].sharps)) % 12
    piece = load_piece(path)
    last = max(n.start for n in piece.notes)
    final_bass = min(n.pitch for n in piece.notes if n.start <= last + 1e-6 and n.end >= piece.end - 1e-6)
    mode = MODE_OF_FINAL.get((final_bass - major_tonic) % 12)
    return None if mode is None else (piece, final_bass % 12, mode)


def _features(path: Path) -> tuple[Any, Any, tuple[int, str], Any] | None:
    """(beat vectors (n, 12), bass pc per beat (n,), (tonic, mode), lines) of one chorale, or None to skip."""
    import numpy as np

    from composer.harmony import make_slices

    home = home_key(path)
    if home is None:
        return None
    piece, tonic, mode = home
    sl = make_slices(piece)
    beats = [i for i, s in enumerate(sl.strength) if s >= 2]
    raw = np.asarray(sl.raw)
    bounds = [*beats, sl.n]
    vectors = np.vstack([raw[a:b].sum(axis=0) for a, b in zip(bounds, bounds[1:], strict=False)])
    bass = []
    for b in beats:
        t = sl.starts[b]
        sounding = [n.pitch for n in piece.notes if n.start <= t + 1e-6 and n.end > t + 1e-6]
        bass.append(min(sounding) % 12 if sounding else -1)
    return vectors, np.array(bass), (tonic, mode), _lines(piece)


def training_files() -> tuple[list[Path], list[str]]:
    """The chorale scores to learn from, and the benchmark's BWV bases left out."""
    import bench_analysis_accuracy as bench
    from music21 import corpus

    excluded = sorted({_base(bench._bwv_work(str(corpus.getWork(n))).split("/")[-1]) for n in bench.CHORALES})
    files = sorted(
        Path(str(p))
        for p in corpus.getComposer("bach")
        if re.fullmatch(r"bwv[\d.]+(-.*)?\.mxl", Path(str(p)).name) and _base(Path(str(p)).stem) not in excluded
    )
    return files, excluded


def benchmark_lines() -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Fingerprints of the benchmark's chorale scores."""
    import bench_analysis_accuracy as bench

    from composer.harmony import load_piece

    return {_lines(load_piece(bench._score_path(n))) for n in bench.CHORALES}


def collect(cache: Path) -> dict[str, Any]:
    """Features of every training chorale (cached in ``cache``, an .npz)."""
    import numpy as np

    if cache.exists():
        z = np.load(cache, allow_pickle=True)
        return dict(z["data"].item())
    files, excluded = training_files()
    bench_lines = benchmark_lines()
    data: dict[str, Any] = {"excluded": excluded, "pieces": {}, "skipped": [], "duplicates": []}
    for i, f in enumerate(files):
        try:
            got = _features(f)
        except Exception as exc:  # a score music21 or the reader cannot take: skip it
            data["skipped"].append(f"{f.name} ({type(exc).__name__})")
            continue
        if got is None:
            data["skipped"].append(f.name)
            continue
        vectors, bass, key, lines = got
        if lines in bench_lines:
            data["duplicates"].append(f.name)
            continue
        data["pieces"][f.name] = (vectors, bass, key)
        if i % 50 == 0:
            print(f"{i}/{len(files)} {f.name}", file=sys.stderr)
    np.savez(cache, data=np.array(data, dtype=object))
    return data


def profiles(data: dict[str, Any]) -> dict[str, list[float]]:
    """Per-mode pitch-class profiles relative to the tonic, and the bass's (normalised)."""
    import numpy as np

    acc = {m: np.zeros(12) for m in ("major", "minor", "bass_major", "bass_minor")}
    for vectors, bass, (tonic, mode) in data["pieces"].values():
        tot = vectors.sum(axis=1, keepdims=True)
        share = np.divide(vectors, tot, out=np.zeros_like(vectors), where=tot > 1e-9)
        acc[mode] += np.roll(share.sum(axis=0), -tonic)
        for b in bass:
            if b >= 0:
                acc["bass_" + mode][(b - tonic) % 12] += 1.0
    out = {}
    for m, a in acc.items():
        p = (1.0 - SMOOTHING) * a / a.sum() + SMOOTHING / 12
        out[m] = [round(float(x), 5) for x in p]
    return out


def variants(data: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """The other estimates tried: the first and last ``k`` beats only, and Viterbi re-estimation.

    ``edgeK``: only the first and last K beats of each chorale (where the global key surely
    holds); ``viterbi1``: every beat relative to its local key as the key HMM finds it with the
    ``edge16`` profiles (one round of hard EM).
    """
    import numpy as np

    from composer.harmony import keyfinding

    def estimate(pick: Any) -> dict[str, list[float]]:
        acc = {"major": np.zeros(12), "minor": np.zeros(12)}
        for name, (vectors, _, (tonic, mode)) in data["pieces"].items():
            tot = vectors.sum(axis=1, keepdims=True)
            share = np.divide(vectors, tot, out=np.zeros_like(vectors), where=tot > 1e-9)
            for i, k in pick(name, len(share), tonic + (12 if mode == "minor" else 0)):
                acc["major" if k < 12 else "minor"] += np.roll(share[i], -(k % 12))
        return {m: [round(float(x), 5) for x in (1 - SMOOTHING) * a / a.sum() + SMOOTHING / 12] for m, a in acc.items()}

    def edges(k: int) -> Any:
        return lambda name, n, key: [(i, key) for i in range(n) if i < k or i >= n - k]

    out = {f"edge{k}": estimate(edges(k)) for k in (8, 16)}
    saved = dict(keyfinding.KEY_PROFILES)
    try:
        keyfinding.KEY_PROFILES = {m: tuple(out["edge16"][m]) for m in ("major", "minor")}
        paths = {name: keyfinding.key_path(v)[0] for name, (v, _, _) in data["pieces"].items()}
    finally:
        keyfinding.KEY_PROFILES = saved
    out["viterbi1"] = estimate(lambda name, n, key: list(enumerate(paths[name])))
    return out


def write(prof: dict[str, list[float]], data: dict[str, Any]) -> None:
    """Write the table (JSON)."""
    import json

    modes = {m: sum(1 for *_, (t, mm) in data["pieces"].values() if mm == m) for m in ("major", "minor")}
    payload = {
        "about": "share of a beat's sounding time on each pitch class above the tonic (0..11), mean over "
        "the beats of chorales in that global key; bass_*: the bass note at a beat",
        "chorales": len(data["pieces"]),
        "modes": modes,
        "excluded_bwv": data["excluded"],
        "duplicates_left_out": data["duplicates"],
        "skipped": data["skipped"],
        "smoothing": SMOOTHING,
        "profiles": prof,
        "variants": variants(data),
    }
    OUT.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Collect, estimate and write."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/key_profile_features.npz"))
    args = ap.parse_args(argv)
    data = collect(args.cache)
    prof = profiles(data)
    write(prof, data)
    print(f"{len(data['pieces'])} chorales; skipped {len(data['skipped'])}; duplicates {data['duplicates']}")
    for m, p in prof.items():
        print(m, " ".join(f"{x:.3f}" for x in p))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
