"""Helpers for the model/dataset/checkpoint/train/evaluate tests: a tiny built corpus.

``tiny_corpus()`` writes a dozen small MIDI files (scales and chords in
different keys, a few bars each), builds them into the corpus ``tiny`` under
the session's ``COMPOSER_CACHE_DIR`` (set by ``conftest._private_cache``), and
memoises the result, so every test module of a session shares one build.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

TINY = "tiny"
# Small enough for a few seconds of CPU, big enough for several windows per piece.
TINY_MODEL: dict[str, Any] = dict(embed_dim=16, hidden_size=32, num_layers=2, dropout=0.1)
TINY_WINDOW: dict[str, Any] = dict(seq_len=32, batch_size=4)

# (tonic MIDI pitch, minor?, tempo qpm, time signature numerator)
_PIECES = [
    (60, False, 100.0, 4), (62, True, 70.0, 4), (55, False, 130.0, 3), (57, True, 90.0, 4),
    (64, False, 110.0, 4), (65, False, 60.0, 3), (59, True, 140.0, 4), (53, False, 100.0, 4),
    (67, True, 85.0, 4), (61, False, 125.0, 3), (56, True, 75.0, 4), (63, False, 100.0, 4),
    (58, False, 95.0, 4), (66, True, 115.0, 3),
]
_MAJOR = (0, 2, 4, 5, 7, 9, 11, 12)
_MINOR = (0, 2, 3, 5, 7, 8, 10, 12)


@dataclass
class TinyCorpus:
    """The built tiny corpus and where its sources are."""

    name: str
    midi_dir: Path  # the source MIDI files (also usable as a "folder of MIDI files")
    cache: Path  # COMPOSER_CACHE_DIR it was built under
    manifest: dict[str, Any]


def write_tiny_midis(folder: Path, count: int = len(_PIECES)) -> list[Path]:
    """Write ``count`` small one-track MIDI files: a scale up and down over chords.

    Each piece has 4 bars of scale in eighths (melody) over whole-bar triads
    (accompaniment), then a bar of the tonic chord: about 100-200 REMI tokens.
    """
    from symusic import Note, Score, Tempo, TimeSignature, Track

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    tpq = 480
    for i, (tonic, minor, qpm, num) in enumerate(_PIECES[:count]):
        steps = _MINOR if minor else _MAJOR
        score = Score(tpq)
        score.tempos.append(Tempo(0, qpm=qpm))
        score.time_signatures.append(TimeSignature(0, num, 4))
        track = Track("piano", 0, False)
        bar = num * tpq
        melody = [tonic + s for s in steps] + [tonic + s for s in reversed(steps)]
        t = 0
        for j in range(4 * num * 2):  # eighth notes for four bars
            pitch = melody[j % len(melody)] + 12
            track.notes.append(Note(t, tpq // 2, pitch, 70 + (j * 7) % 40))
            t += tpq // 2
        for b in range(4):  # I IV V I under the melody
            root = tonic + (0, 5, 7, 0)[b]
            third = steps[2] if b != 2 else 4  # major V
            for p in (root - 12, root - 12 + third, root - 12 + 7):
                track.notes.append(Note(b * bar, bar, p, 60))
        for p in (tonic - 12, tonic - 12 + steps[2], tonic - 5, tonic):
            track.notes.append(Note(4 * bar, bar, p, 80))
        track.notes.sort()
        score.tracks.append(track)
        path = folder / f"piece{i:02d}_{tonic}{'m' if minor else ''}.mid"
        path.write_bytes(bytes(score.dumps_midi()))
        paths.append(path)
    return paths


_BUILT: dict[tuple[str, str], TinyCorpus] = {}


def tiny_corpus(name: str = TINY) -> TinyCorpus:
    """Build (once per session and cache) the tiny corpus with train, valid and test pieces."""
    from composer.corpus import build_corpus
    from composer.paths import cache_dir
    from composer.recipes import dir_recipe

    cache = cache_dir()
    key = (str(cache), name)
    if key in _BUILT:
        return _BUILT[key]
    midi_dir = cache / "sources" / name
    write_tiny_midis(midi_dir)
    recipe = replace(dir_recipe(midi_dir, name=name), valid=0.2, test=0.2)
    manifest = build_corpus(recipe, jobs=1)
    splits = manifest["splits"]
    if not all(splits[s] for s in ("train", "valid", "test")) or manifest["skipped"]:
        raise RuntimeError(f"tiny corpus is lopsided: {splits}, skipped {manifest['skipped']}")
    built = TinyCorpus(name, midi_dir, cache, manifest)
    _BUILT[key] = built
    return built


def tiny_train_config(out: Path, **over: Any) -> Any:
    """A :class:`TrainConfig` for a seconds-long CPU run on the tiny corpus."""
    from composer.train import TrainConfig

    base: dict[str, Any] = dict(
        corpus=TINY, out=str(out), **TINY_MODEL, **TINY_WINDOW, lr=1e-2, warmup_steps=2,
        epochs=2, save_every=3, patience=0, seed=0, device="cpu", threads=1,
    )
    base.update(over)
    return TrainConfig(**base)


def subprocess_env() -> dict[str, str]:
    """Environment for a ``python -m composer`` child: same cache, one thread, no colour."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NO_COLOR="1", COLUMNS="200",
               PYTHONUNBUFFERED="1")
    return env

