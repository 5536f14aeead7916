"""Build corpora: sources -> MIDI -> token arrays + a manifest (cached, resumable).

Layout of a built corpus ``<cache>/corpora/NAME/``::

    recipe.json          the recipe it was built from
    tokenizer.json       the codec (spec + styles + hash)
    pieces/ID.json       one record per piece (meta, or the reason it was skipped; a folder's file: its content hash)
    midi/ID.mid          the MIDI rendering of a music21 source
    tokens/ID.npy        (T,) int32 MidiTok ids, no control tokens
    manifest.json        everything above summed up (written last)

A piece whose record exists is not converted again, so a killed build resumes
where it stopped, and the manifest comes out the same.  A file of a MIDI folder
is converted again when its contents change (its record holds their hash).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import multiprocessing
import os
import shlex
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from composer.codec import AnyCodec, codec_from_dict, make_codec
from composer.errors import CorpusError, MidiError
from composer.files import write_bytes_atomic
from composer.keys import KEY_NAMES, find_key
from composer.midifile import FERMATA_MARKER, MAX_NOTES, load_score, pitched_notes, set_note_limit
from composer.paths import cache_dir
from composer.recipes import Recipe, assign_splits, dir_corpus_name, list_recipes, piece_refs

MANIFEST_VERSION = 1
Progress = Callable[[int, int], None]  # (done, total)


def corpus_root(name: str, root: str | Path | None = None) -> Path:
    """Folder of the built corpus ``name`` under ``root`` (default: the user cache)."""
    return Path(root or cache_dir() / "corpora") / name


def _write_json(path: Path, data: Any) -> None:
    write_bytes_atomic(json.dumps(data, indent=1, sort_keys=True).encode(), path, force=True)


# ---- worker side -------------------------------------------------------------------------------
_CODEC: AnyCodec | None = None


_KILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL


def _end_with_parent(parent: int) -> None:
    """Make this worker process end when the build process ``parent`` dies (even by SIGKILL).

    A killed parent's pool workers wait forever on a queue nobody writes.  On Linux the
    kernel signals them (``PR_SET_PDEATHSIG``); elsewhere, and as a second guard, a daemon
    thread checks twice a second whether the parent is still the parent.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), _KILL)  # at once: no pool clean-up waiting on the dead parent

    if os.getppid() != parent:  # died before the guard was set
        os.kill(os.getpid(), _KILL)
    threading.Thread(target=watch, daemon=True, name="composer-parent-watch").start()


def _init_worker(codec_dict: dict[str, Any], max_notes: int, parent: int) -> None:
    global _CODEC
    _end_with_parent(parent)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    set_note_limit(max_notes)
    _CODEC = codec_from_dict(codec_dict)


def _music21_midi(ref: dict[str, Any]) -> bytes:
    """Parse a music21 source and render it to MIDI bytes, pickups aligned to the bar.

    Fermatas (the chorales' phrase ends), which MIDI has no event for, become marker meta
    events named ``fermata`` at their onsets; token codes that know phrases read them.
    """
    from music21 import converter, midi

    if ref["kind"] == "music21-abc":
        stream = converter.parse(ref["text"], format="abc")
    else:
        if not ref.get("path"):
            raise CorpusError("not in music21's corpus")
        stream = converter.parse(ref["path"])
    if hasattr(stream, "scores") and len(getattr(stream, "scores", [])) > 0:
        stream = stream.scores[0]  # an Opus: take its first score
    # A pickup bar (anacrusis) is shifted so that bar lines fall where MIDI expects them.
    pad = 0.0
    measures = stream.recurse().getElementsByClass("Measure")
    if measures:
        first = measures[0]
        pad = float(first.paddingLeft or 0.0)
    fermatas = _fermata_offsets(stream)
    mf = midi.translate.streamToMidiFile(stream)
    data = mf.writestr()
    if pad or fermatas:
        data = _shift_midi(data, pad, fermatas)
    return data


def _fermata_offsets(stream: Any) -> list[float]:
    """Onsets (quarter notes from the start) of the notes and chords that carry a fermata."""
    out = set()
    for n in stream.flatten().notes:
        if any(type(e).__name__ == "Fermata" for e in n.expressions):
            out.add(round(float(n.offset), 4))
    return sorted(out)


def _shift_midi(data: bytes, beats: float, fermatas: Sequence[float] = ()) -> bytes:
    """Shift every note by ``beats`` and add a fermata marker (:data:`FERMATA_MARKER`) at each (shifted) onset."""
    from symusic import Score, TextMeta

    score = Score.from_midi(data)
    ticks = round(beats * score.tpq)
    for track in score.tracks:
        for note in track.notes:
            note.time += ticks
    for t in fermatas:
        score.markers.append(TextMeta(round((t + beats) * score.tpq), FERMATA_MARKER))
    return bytes(score.dumps_midi())


def convert_piece(ref: dict[str, Any], root: str, style: str) -> dict[str, Any]:
    """Convert one piece: MIDI file, token array and a record. Never raises.

    Returns
    -------
    dict
        The piece record: ``{"id", "skipped": reason}`` or its statistics.
    """
    if _CODEC is None:
        raise RuntimeError("convert_piece called outside an initialised worker")
    out = Path(root)
    pid = ref["id"]
    record: dict[str, Any] = {"id": pid, "source": ref.get("path", "")}
    if "sha256" in ref:
        record["sha256"] = ref["sha256"]
    try:
        if ref["kind"] == "dir":
            midi_path = Path(ref["path"])
        else:
            midi_path = out / "midi" / f"{pid}.mid"
            write_bytes_atomic(_music21_midi(ref), midi_path, force=True)
        score = load_score(midi_path)
        notes = pitched_notes(score)
        if not notes:
            has_drums = any(t.is_drum and len(t.notes) for t in score.tracks)
            raise MidiError("drum-only file" if has_drums else "no notes")
        ids = _CODEC.encode_score(score)
        if len(ids) == 0:
            raise MidiError("no tokens after tokenization")
    except Exception as exc:  # one bad piece never stops the build
        reason = str(exc).replace(str(ref.get("path", "")) + ": ", "") or type(exc).__name__
        record["skipped"] = reason.splitlines()[0][:200]
        return record
    np.save(out / "tokens" / f"{pid}.npy", ids)
    key, corr = find_key(notes)
    tempo = float(score.tempos[0].qpm) if len(score.tempos) else 120.0
    ts = score.time_signatures
    record.update(
        tokens=int(len(ids)),
        notes=len(notes),
        beats=round(max(n.end for n in notes), 3),
        pitch_min=min(n.pitch for n in notes),
        pitch_max=max(n.pitch for n in notes),
        key=KEY_NAMES[key],
        key_index=key,
        key_corr=round(corr, 4),
        tempo=round(tempo, 2),
        time_signature=f"{ts[0].numerator}/{ts[0].denominator}" if len(ts) else "4/4",
        style=style,
    )
    return record


# ---- build -------------------------------------------------------------------------------------
def build_corpus(
    recipe: Recipe,
    *,
    root: str | Path | None = None,
    jobs: int | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    max_notes: int = MAX_NOTES,
) -> dict[str, Any]:
    """Build (or finish building) a corpus and return its manifest.

    Parameters
    ----------
    recipe : Recipe
        What to build.
    root : path, optional
        Folder holding corpora (default ``<cache>/corpora``).
    jobs : int, optional
        Worker processes (default: all cores).
    limit : int, optional
        Only the first ``limit`` pieces (for quick trials).
    progress : callable, optional
        Called with ``(done, total)`` as pieces finish.
    max_notes : int
        Files with more notes are skipped (a guard against MIDI bombs).

    Returns
    -------
    dict
        The manifest (also written to ``manifest.json``).

    Raises
    ------
    CorpusError
        For a corpus built with another tokenizer, a recipe naming no pieces (a folder without
        ``.mid``/``.midi`` files), or one whose pieces were all skipped (then no manifest is left).
    """
    out = corpus_root(recipe.name, root)
    if out.parent.resolve() != Path(root or cache_dir() / "corpora").resolve() or out.name in ("", ".", ".."):
        raise CorpusError(f"corpus name {recipe.name!r} would leave the corpus folder")
    codec = make_codec(recipe.tokenizer, styles=[recipe.name])
    old = out / "tokenizer.json"
    if old.exists() and json.loads(old.read_text()).get("hash") != codec.hash:
        raise CorpusError(
            f"{out} was built with another tokenizer; remove it or build under another --cache-dir"
        )
    for sub in ("pieces", "midi", "tokens"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    _write_json(out / "recipe.json", recipe.to_dict())
    _write_json(out / "tokenizer.json", codec.to_dict())
    refs = piece_refs(recipe)[:limit] if limit else piece_refs(recipe)
    folders = [s["path"] for s in recipe.sources if s["kind"] == "dir"]
    if not refs:
        if len(folders) == len(recipe.sources):
            raise CorpusError(f"{', '.join(folders)}: no .mid/.midi files")
        raise CorpusError(f"recipe {recipe.name!r} names no pieces")
    for ref in refs:
        if ref["kind"] == "dir":
            ref["sha256"] = _content_hash(ref["path"])
    todo = [r for r in refs if not _is_done(r, out)]
    done = len(refs) - len(todo)
    if progress:
        progress(done, len(refs))
    if todo:
        jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
        # fork on Linux (the default before Python 3.14): the parent-death guard needs the build as
        # the workers' parent, which forkserver is not
        context = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                 initargs=(codec.to_dict(), max_notes, os.getpid())) as ex:
            futures = [ex.submit(convert_piece, r, str(out), recipe.name) for r in todo]
            for fut in as_completed(futures):
                rec = fut.result()
                _write_json(out / "pieces" / f"{rec['id']}.json", rec)
                done += 1
                if progress:
                    progress(done, len(refs))
    manifest = _manifest(recipe, codec, out, [r["id"] for r in refs])
    if not manifest["pieces"]:
        (out / "manifest.json").unlink(missing_ok=True)  # an older build's is no longer true
        reasons = ", ".join(f"{k}: {v}" for k, v in manifest["skip_reasons"].items())
        if len(folders) == len(recipe.sources):
            raise CorpusError(f"{', '.join(folders)}: no usable MIDI file; all {len(refs)} skipped ({reasons})")
        raise CorpusError(f"recipe {recipe.name!r}: no usable piece; all {len(refs)} skipped ({reasons})")
    _write_json(out / "manifest.json", manifest)
    return manifest


def _content_hash(path: str) -> str:
    """Hash of a file's contents (empty if it cannot be read: its conversion records why)."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()[:16]
    except OSError:
        return ""


def _is_done(ref: dict[str, Any], out: Path) -> bool:
    """Whether a piece has a record, made from the same contents where the reference has their hash."""
    path = out / "pieces" / f"{ref['id']}.json"
    if "sha256" not in ref:
        return path.exists()
    try:
        return bool(json.loads(path.read_text()).get("sha256") == ref["sha256"])
    except (OSError, json.JSONDecodeError):
        return False


def _manifest(recipe: Recipe, codec: AnyCodec, out: Path, ids: list[str]) -> dict[str, Any]:
    pieces, skipped = [], []
    for pid in sorted(ids):
        rec = json.loads((out / "pieces" / f"{pid}.json").read_text())
        if "skipped" in rec:
            skipped.append({"id": pid, "reason": rec["skipped"]})
        else:
            pieces.append(rec)
    split = assign_splits([p["id"] for p in pieces], recipe)
    for rec in pieces:
        rec["split"] = split[rec["id"]]
    splits = Counter(p["split"] for p in pieces)
    manifest = {
        "format_version": MANIFEST_VERSION,
        "name": recipe.name,
        "recipe_hash": recipe.hash,
        "tokenizer_hash": codec.hash,
        "tokenizer": codec.to_dict(),
        "pieces": pieces,
        "skipped": skipped,
        "skip_reasons": dict(Counter(_reason_kind(s["reason"]) for s in skipped)),
        "splits": {s: splits.get(s, 0) for s in ("train", "valid", "test")},
        "split_tokens": {
            s: sum(p["tokens"] for p in pieces if p["split"] == s) for s in ("train", "valid", "test")
        },
        "totals": {
            "pieces": len(pieces),
            "skipped": len(skipped),
            "tokens": sum(p["tokens"] for p in pieces),
            "notes": sum(p["notes"] for p in pieces),
            "beats": round(sum(p["beats"] for p in pieces), 3),
        },
    }
    blob = json.dumps(manifest, sort_keys=True).encode()
    manifest["hash"] = hashlib.sha256(blob).hexdigest()[:16]
    return manifest


def _reason_kind(reason: str) -> str:
    return reason.split("(")[0].split(":")[0].strip()[:60]


# ---- reading a built corpus --------------------------------------------------------------------
@dataclass
class Corpus:
    """A built corpus: its manifest, codec and token arrays."""

    root: Path
    manifest: dict[str, Any]
    codec: AnyCodec

    @property
    def name(self) -> str:
        """Corpus name (also its style)."""
        return str(self.manifest["name"])

    @property
    def recipe(self) -> dict[str, Any]:
        """The recipe the corpus was built from."""
        return dict(json.loads((self.root / "recipe.json").read_text()))

    def pieces(self, split: str | None = None) -> list[dict[str, Any]]:
        """Piece records, of one split (train/valid/test) or all."""
        if split not in (None, "train", "valid", "test"):
            raise ValueError(f"split must be train, valid or test, got {split!r}")
        return [p for p in self.manifest["pieces"] if split is None or p["split"] == split]

    def tokens(self, piece_id: str) -> np.ndarray:
        """(T,) MidiTok ids of one piece."""
        return np.load(self.root / "tokens" / f"{piece_id}.npy")


def load_corpus(name_or_path: str | Path, root: str | Path | None = None) -> Corpus:
    """Open a built corpus by name (in the cache) or by its folder.

    Raises
    ------
    CorpusError
        If it has not been built (with the command that builds it).
    """
    path = Path(name_or_path)
    if not (path / "manifest.json").exists():
        path = corpus_root(str(name_or_path), root)
    mf = path / "manifest.json"
    if not mf.exists():
        given = Path(name_or_path)
        if given.is_dir() and str(name_or_path) not in list_recipes():  # a folder of MIDI files
            hint = f"composer corpus build --from-dir {shlex.quote(str(name_or_path))}"
            if dir_corpus_name(given) != str(name_or_path):
                hint += f", then use the corpus name {dir_corpus_name(given)!r}"
        elif str(name_or_path) in list_recipes() or Path(str(name_or_path)).suffix == ".toml":
            hint = f"composer corpus build {name_or_path}"
        else:  # neither a recipe nor a folder: say what there is
            raise CorpusError(f"corpus {name_or_path!r} is not built and is no recipe or folder (recipes: "
                              f"{', '.join(list_recipes())}; your MIDI files: composer corpus build --from-dir DIR)")
        raise CorpusError(f"corpus {name_or_path!r} is not built; run: {hint}")
    try:
        manifest = json.loads(mf.read_text())
        codec = codec_from_dict(manifest["tokenizer"])
    except (json.JSONDecodeError, KeyError) as exc:
        raise CorpusError(f"{mf}: corrupt manifest ({exc}); rebuild the corpus") from None
    return Corpus(path, manifest, codec)


def built_corpora(root: str | Path | None = None) -> list[str]:
    """Names of the corpora built under ``root``."""
    base = Path(root or cache_dir() / "corpora")
    return sorted(p.parent.name for p in base.glob("*/manifest.json"))


def _skipped_file(root: Path, skipped: dict[str, Any]) -> dict[str, Any]:
    """A skipped piece's id, reason and source (the file it came from, where its record says)."""
    try:
        source = json.loads((root / "pieces" / f"{skipped['id']}.json").read_text()).get("source", "")
    except (OSError, json.JSONDecodeError):
        source = ""
    return {"id": skipped["id"], "reason": skipped["reason"], "source": source}


def corpus_stats(corpus: Corpus) -> dict[str, Any]:
    """Summary figures of a built corpus (for ``composer corpus stats``)."""
    pieces = corpus.pieces()
    m = corpus.manifest
    lengths = np.array([p["tokens"] for p in pieces]) if pieces else np.zeros(1)
    edges = [0, 250, 500, 1000, 2000, 4000, 8000, 10**9]
    hist = np.histogram(lengths, bins=edges)[0]
    minutes = sum(p["beats"] / p["tempo"] for p in pieces)
    return {
        "name": corpus.name,
        "pieces": len(pieces),
        "skipped": len(m["skipped"]),
        "skip_reasons": m.get("skip_reasons", {}),
        "skipped_files": [_skipped_file(corpus.root, s) for s in m["skipped"]],
        "splits": m["splits"],
        "tokens": m["totals"]["tokens"],
        "notes": m["totals"]["notes"],
        "beats": m["totals"]["beats"],
        "minutes": round(minutes, 1),
        "vocab_size": corpus.codec.vocab_size,
        "pitch_min": min((p["pitch_min"] for p in pieces), default=0),
        "pitch_max": max((p["pitch_max"] for p in pieces), default=0),
        "keys": dict(Counter(p["key"] for p in pieces).most_common()),
        "time_signatures": dict(Counter(p["time_signature"] for p in pieces).most_common()),
        "length_histogram": {
            f"{lo}-{hi - 1 if hi < 10**9 else 'inf'}": int(c)
            for lo, hi, c in zip(edges[:-1], edges[1:], hist, strict=True)
        },
        "tokenizer_hash": m["tokenizer_hash"],
    }
