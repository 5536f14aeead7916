"""Shared fixtures: a private cache for the whole session, tiny MIDI files, the real chorales.

Every test session gets its own ``COMPOSER_CACHE_DIR`` (a pytest tmp dir), so no
test reads or writes the user's cache; the corpus a test needs is built here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

# (pitch, start in beats, duration in beats)
NoteSpec = tuple[int, float, float]

C_MAJOR_PHRASE: tuple[NoteSpec, ...] = (
    (60, 0.0, 1.0),
    (64, 0.0, 1.0),
    (62, 1.0, 0.5),
    (64, 1.5, 0.5),
    (65, 2.0, 2.0),
    (67, 4.0, 1.0),
    (72, 4.0, 3.0),
    (71, 5.0, 0.25),
    (69, 5.25, 0.75),
    (67, 6.0, 2.0),
)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the library (and subprocesses) at an empty cache for the whole session."""
    cache = tmp_path_factory.mktemp("composer-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("COMPOSER_CACHE_DIR", str(cache))
    mp.delenv("COMPOSER_MODELS_DIR", raising=False)
    try:
        yield cache
    finally:
        mp.undo()


class MidiFactory:
    """Writes tiny MIDI files built in code (symusic), for tests.

    Parameters
    ----------
    root : Path
        Default folder for relative paths.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str | Path) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def song(
        self,
        name: str | Path,
        notes: Sequence[NoteSpec] = C_MAJOR_PHRASE,
        *,
        drum: bool = False,
        tpq: int = 480,
        tempo: float = 100.0,
        time_signature: tuple[int, int] = (4, 4),
        velocity: int = 90,
    ) -> Path:
        """A one-track standard MIDI file with ``notes``; an empty track when ``notes`` is empty."""
        from symusic import Note, Score, Tempo, TimeSignature, Track

        score = Score(tpq)
        score.tempos.append(Tempo(0, qpm=tempo))
        score.time_signatures.append(TimeSignature(0, *time_signature))
        track = Track("drums" if drum else "piano", 0, drum)
        for pitch, start, dur in notes:
            track.notes.append(Note(round(start * tpq), round(dur * tpq), pitch, velocity))
        score.tracks.append(track)
        path = self._path(name)
        path.write_bytes(bytes(score.dumps_midi()))
        return path

    def raw(self, name: str | Path, data: bytes) -> Path:
        """A file holding exactly ``data``."""
        path = self._path(name)
        path.write_bytes(data)
        return path


@pytest.fixture
def midi_factory(tmp_path: Path) -> MidiFactory:
    """Build tiny MIDI files under a fresh tmp dir."""
    return MidiFactory(tmp_path / "midi")


@pytest.fixture
def messy_midi_dir(midi_factory: MidiFactory) -> Path:
    """A folder with 3 good MIDI files and 5 bad ones (plus a file that is not MIDI at all).

    Good: ``good.mid``, ``sub/deeper/nested.mid``, ``other.midi``.
    Bad: random bytes, a truncated file, a MIDI file without notes, a drum-only
    file, a zero-byte file.
    """
    f = midi_factory
    f.song("good.mid")
    f.song("sub/deeper/nested.mid", [(p, i * 0.5, 0.5) for i, p in enumerate(range(48, 72))])
    f.song("other.midi", [(67, 0.0, 4.0), (71, 0.0, 4.0), (74, 0.0, 4.0)], time_signature=(3, 4))
    f.raw("corrupt.mid", bytes(range(256)) * 3)
    good = (f.root / "good.mid").read_bytes()
    f.raw("sub/truncated.mid", good[: len(good) - 7])
    f.song("empty.mid", [])
    f.song("drums.mid", [(36, 0.0, 0.5), (38, 1.0, 0.5), (42, 0.5, 0.25)], drum=True)
    f.raw("zero.mid", b"")
    f.raw("notes.txt", b"not a MIDI file, and not named like one")
    return f.root


@pytest.fixture(scope="session")
def corpora_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session folder holding built corpora: ``CACHE/corpora`` of the cache ``--cache-dir CACHE`` names."""
    root = tmp_path_factory.mktemp("cache") / "corpora"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def chorales_corpus(corpora_root: Path):  # type: ignore[no-untyped-def]
    """The full ``bach-chorales`` corpus, built once per session from music21 (about a minute)."""
    from composer.corpus import build_corpus, load_corpus
    from composer.recipes import load_recipe

    build_corpus(load_recipe("bach-chorales"), root=corpora_root, jobs=os.cpu_count())
    return load_corpus("bach-chorales", corpora_root)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for a module (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    from helpers import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def satb_codec():  # type: ignore[no-untyped-def]
    """The chorale corpus's SATB grid codec (16th-note grid, its style control), as ``composer train`` makes it."""
    from helpers import SATB_SPEC

    from composer.codec import make_codec
    from composer.voicegrid import VoiceGridCodec

    c = make_codec(SATB_SPEC, styles=["bach-chorales-satb"])
    assert isinstance(c, VoiceGridCodec)
    return c
