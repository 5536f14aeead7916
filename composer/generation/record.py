"""Generation records: how a written piece came to be, so it can be made again byte for byte.

Every file ``composer generate`` and ``composer continue`` write carries a record: the composer
version, the model (the name given, its own name, the SHA-256 of its weights file), every
sampling option with the seed actually used, the length, tempo and program, the batch the piece
was sampled in (``n`` pieces, ``best_of`` candidates each), its place there and the kept
candidate's place among its ``best_of`` (``chosen``: a replay takes it without ranking again, so
a changed analysis still replays the piece; older records rank again), and for a continuation
the primer (the typed melody, or the MIDI file's path and hash).  It is written as a MIDI marker
meta event (``composer-record {...}``, at time 0) and as a JSON sidecar beside the file
(``NAME.json``); :func:`read_record` reads either.

Regenerating replays the whole batch the piece came from (see
:func:`composer.generation.select.regenerate`): the int8 model quantizes each step's activations
with one scale for the whole batch, so a row's numbers depend on its neighbours and a piece
sampled alone would differ in its last bits, then in its notes.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from composer.config import SampleOptions, check_bool, check_int
from composer.errors import InputError
from composer.files import read_regular_file, write_bytes_atomic
from composer.generation.primer import Primer
from composer.generation.setup import GeneratedPiece
from composer.midifile import load_score
from composer.version import __version__

FORMAT = "composer-record/1"
MARKER = "composer-record "  # the marker text starts so; the JSON follows
MAX_RECORD_BYTES = 1 << 20


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_hash(path: str | Path) -> str:
    """SHA-256 (hex) of a file, cached while its size and modification time stay the same."""
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Request:
    """What ``composer generate`` / ``continue`` sample: the part of a record that makes the music."""

    checkpoint: str | None = None  # the model as the user named it (None: the default model)
    n: int = 1  # pieces (a continuation: 1)
    best_of: int = 1  # candidates sampled per piece, the best kept by the harmony analysis
    bars: int = 16  # length (a continuation: the new bars after the primer)
    options: SampleOptions = SampleOptions()
    tempo: float | None = None  # bpm; None = the primer's or the model's
    program: int | None = None  # General MIDI program; None = the model's
    quantize: bool = True  # sample with the int8 model
    voices: bool = False  # a continuation harmonizes beneath the primer's melody
    humanize: bool = False  # velocities shaped (composer.generation.dynamics); recorded only when on


def make_record(
    command: str,
    piece: GeneratedPiece,
    request: Request,
    *,
    model_path: Path,
    index: int,
    file: str,
    primer: dict[str, Any] | None = None,
    chosen: int | None = None,
) -> dict[str, Any]:
    """The record of one written piece (JSON-ready; no time stamps, so a replay writes the same bytes).

    ``chosen`` is the kept candidate's place among its ``best_of``: a replay takes it without asking
    the analysis again, so a later analysis that ranks candidates otherwise still replays the piece.
    """
    return {
        "format": FORMAT,
        "composer": __version__,
        "command": command,
        "file": file,
        "model": {"ref": request.checkpoint, "name": piece.meta.get("model"), "sha256": file_hash(model_path)},
        "options": request.options.to_dict(),
        "bars": request.bars,
        "tempo": request.tempo,
        "program": request.program,
        "quantize": request.quantize,
        "voices": request.voices,
        "batch": {"n": request.n, "best_of": request.best_of, "index": index}
        | ({"chosen": chosen} if chosen is not None else {}),
        "piece_seed": piece.seed,
        "primer": primer,
        "notes_sha256": notes_hash(piece),
    } | ({"humanize": True} if request.humanize else {})


def notes_hash(piece: GeneratedPiece) -> str:
    """SHA-256 of a piece's notes (what a replay must reproduce before it may write the file)."""
    text = json.dumps([[round(n.start, 6), n.pitch, round(n.duration, 6), n.velocity] for n in sorted(piece.notes)])
    return hashlib.sha256(text.encode()).hexdigest()


#: What a record written before a sampling option existed sampled with (typed sampling; full chords,
#: repeated notes as a kind of their own, phrase rests, the raised fourth at a quarter penalty): replayed
#: the old way.
OLD_RECORD: dict[str, Any] = {"typed": False, "full_chords": False, "repeats": None, "phrase_rests": None,
                              "raised_penalty": 0.25, "seventh_penalty": 1.0, "four_pcs": None,
                              "degree_odds": None, "motion_odds": None, "motion_beats": False,
                              "tune_ending": False, "phrase_ends": False,
                              "phrase_odds": None, "held_melody": False, "clash_odds": None, "onset_odds": None,
                              "sixteenth_odds": None, "bass_odds": None,
                              "phrase_choice": False, "phrase_rewinds": 0}


def chosen_of(record: dict[str, Any], request: Request) -> int | None:
    """The kept candidate's place among its ``best_of`` (None in records from before it was kept)."""
    chosen = record["batch"].get("chosen")
    try:
        return None if chosen is None else check_int("batch.chosen", chosen, 0, request.best_of - 1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad record: {exc}") from None


def request_of(record: dict[str, Any]) -> Request:
    """The :class:`Request` a record was sampled from (its fields checked: a record is untrusted input).

    Raises
    ------
    InputError
        Naming what is missing or out of range.
    """
    try:
        batch, model = record["batch"], record["model"]
        n = check_int("batch.n", batch["n"], 1, 256)
        best_of = check_int("batch.best_of", batch["best_of"], 1, 256)
        check_int("batch.index", batch["index"], 0, n - 1)
        ref = model["ref"]
        if ref is not None and not isinstance(ref, str):
            raise ValueError(f"model.ref must be a string or null, got {ref!r}")
        if not isinstance(model["sha256"], str) or not isinstance(record["file"], str):
            raise ValueError("model.sha256 and file must be strings")
        if record["command"] not in ("generate", "continue"):
            raise ValueError(f"command must be generate or continue, got {record['command']!r}")
        if not isinstance(record["options"], dict):
            raise ValueError("options must be an object")
        if unknown := sorted(set(record["options"]) - {f.name for f in fields(SampleOptions)}):
            raise ValueError(f"unknown sampling option {unknown[0]!r} (a newer composer's record?)")
        return Request(checkpoint=ref, n=n, best_of=best_of, bars=check_int("bars", record["bars"], 1, 1024),
                       options=SampleOptions(**OLD_RECORD | record["options"]),
                       tempo=record["tempo"], program=record["program"],
                       quantize=check_bool("quantize", record["quantize"]),
                       voices=check_bool("voices", record["voices"]),
                       humanize=check_bool("humanize", record.get("humanize", False)))
    except KeyError as exc:
        raise InputError(f"the record has no {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad record: {exc}") from None


def primer_source(source: str | Path, primer: Primer) -> dict[str, Any]:
    """How a record names a primer: a typed melody as text, a MIDI file by path and hash."""
    text = str(source).strip()
    path = Path(text)
    try:  # the test parse_primer makes: a MIDI name, or any existing file
        is_file = len(text) < 4096 and (path.suffix.lower() in (".mid", ".midi") or path.is_file())
    except OSError:
        is_file = False
    if is_file:
        return {"kind": "midi", "path": str(path.resolve()), "sha256": file_hash(path)}
    return {"kind": "text", "text": text}


def primer_of(record: dict[str, Any]) -> str:
    """The primer argument a record's continuation was made from (its MIDI file checked by hash)."""
    src = record.get("primer") or {}
    if src.get("kind") == "text":
        return str(src["text"])
    if src.get("kind") == "midi":
        path = Path(src["path"])
        if not path.is_file():
            raise InputError(f"the record's primer {path} is missing")
        if file_hash(path) != src.get("sha256"):
            raise InputError(f"the record's primer {path} has changed since (its SHA-256 differs)")
        return str(path)
    raise InputError("the record names no primer")


def with_record(piece: GeneratedPiece, record: dict[str, Any]) -> GeneratedPiece:
    """``piece`` carrying ``record`` (written as its marker by :meth:`GeneratedPiece.to_score`)."""
    piece.meta["record"] = marker_text(record)
    return piece


def marker_text(record: dict[str, Any]) -> str:
    """The marker event's text: the prefix and the record as compact, key-sorted JSON."""
    return MARKER + json.dumps(record, sort_keys=True, separators=(",", ":"))


def write_sidecar(record: dict[str, Any], midi_path: Path, force: bool = False) -> Path:
    """Write the record beside the MIDI file (``NAME.json``), atomically."""
    text = json.dumps(record, indent=1, sort_keys=True) + "\n"
    return write_bytes_atomic(text.encode(), midi_path.with_suffix(".json"), force=force)


def read_record(path: str | Path) -> dict[str, Any]:
    """The record of a written piece, from its JSON sidecar or from the MIDI file itself.

    Raises
    ------
    InputError
        If the file holds no composer record, or one of another format.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            record = json.loads(read_regular_file(path, MAX_RECORD_BYTES))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a composer record ({exc})") from None
    else:
        score = load_score(path)
        texts = [str(m.text) for m in score.markers if str(m.text).startswith(MARKER)]
        if not texts:
            raise InputError(f"{path}: no composer record in this MIDI file (written by another program?)")
        try:
            record = json.loads(texts[0][len(MARKER):])
        except ValueError as exc:
            raise InputError(f"{path}: its composer record is not valid JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise InputError(f"{path}: not a {FORMAT} record")
    return record
