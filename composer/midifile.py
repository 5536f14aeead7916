"""Reading and writing MIDI files safely.

Every MIDI file we read is untrusted: :func:`load_score` checks the chunk
structure in Python before handing the bytes to symusic, and refuses files past
the size and note limits (a "MIDI bomb") with a :class:`MidiError` that names
the file and the problem.  A note struck again before its note-off ends where it is
struck again (:func:`restruck_notes`; symusic alone gives the later notes the earlier
ones' note-offs).  Writes go through :mod:`composer.files` (atomic).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.errors import MidiError
from composer.events import Note
from composer.files import NotARegularFile, read_regular_file, write_bytes_atomic

if TYPE_CHECKING:
    from symusic import Score

MIDI_SUFFIXES = (".mid", ".midi", ".MID", ".MIDI", ".Mid")
MAX_FILE_BYTES = 32 * 1024 * 1024  # a larger MIDI file is refused unless the limit is raised
MAX_NOTES = 200_000  # notes per file; raise with --max-notes
MAX_TRACKS = 1024  # track chunks per file
MAX_BEATS = 100_000.0  # about 14 hours at 120 bpm; longer "pieces" are refused
FERMATA_MARKER = "fermata"  # a marker meta event of this text marks a fermata (phrase end) at its time
_NOTE_LIMIT: ContextVar[int] = ContextVar("composer_note_limit", default=MAX_NOTES)


@contextlib.contextmanager
def note_limit(max_notes: int | None) -> Iterator[None]:
    """Within the block, :func:`load_score` accepts up to ``max_notes`` notes (``None``: the default).

    This is how a command's ``--max-notes`` reaches every file it reads.
    """
    if max_notes is None:
        yield
        return
    if max_notes < 1:
        raise ValueError(f"max_notes must be >= 1, got {max_notes}")
    token = _NOTE_LIMIT.set(max_notes)
    try:
        yield
    finally:
        _NOTE_LIMIT.reset(token)


def set_note_limit(max_notes: int) -> None:
    """Set the note limit for the rest of this process (corpus worker processes)."""
    _NOTE_LIMIT.set(max_notes)


def check_midi_bytes(data: bytes, name: str = "file", max_tracks: int = MAX_TRACKS) -> None:
    """Validate the chunk structure of a standard MIDI file.

    Parameters
    ----------
    data : bytes
        The whole file.
    name : str
        Shown in error messages.
    max_tracks : int
        Most track chunks accepted.

    Raises
    ------
    MidiError
        If the header or the chunk layout is not that of a standard MIDI file.
    """
    if not data:
        raise MidiError(f"{name}: empty file")
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":  # RIFF-wrapped MIDI
        raise MidiError(f"{name}: RIFF (.rmi) MIDI files are not supported; extract the MThd data")
    if len(data) < 14 or data[:4] != b"MThd":
        raise MidiError(f"{name}: not a MIDI file (no MThd header)")
    (hlen,) = struct.unpack(">I", data[4:8])
    if hlen < 6 or 8 + hlen > len(data):
        raise MidiError(f"{name}: corrupt MIDI header (length {hlen})")
    fmt, ntrks, division = struct.unpack(">HHH", data[8:14])
    if fmt > 2:
        raise MidiError(f"{name}: unknown MIDI format {fmt}")
    if division == 0:
        raise MidiError(f"{name}: 0 ticks per quarter note")
    if division & 0x8000:
        raise MidiError(f"{name}: SMPTE time division is not supported")
    if ntrks > max_tracks:
        raise MidiError(f"{name}: {ntrks} tracks (limit {max_tracks})")
    pos, tracks = 8 + hlen, 0
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (clen,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        if pos + 8 + clen > len(data):
            raise MidiError(f"{name}: truncated MIDI file (chunk {tracks + 1} runs past the end)")
        if kind == b"MTrk":
            tracks += 1
        pos += 8 + clen
    if tracks == 0:
        raise MidiError(f"{name}: no track data")
    if tracks > max_tracks:
        raise MidiError(f"{name}: {tracks} tracks (limit {max_tracks})")


def load_score(
    path: str | Path,
    *,
    max_notes: int | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> Score:
    """Read a MIDI file into a ``symusic.Score`` (ticks), refusing bad or huge files.

    Parameters
    ----------
    path : str or Path
        The MIDI file.
    max_notes : int, optional
        Most notes accepted (a guard against MIDI bombs); default: the limit
        set by :func:`note_limit`, else :data:`MAX_NOTES`.
    max_bytes : int
        Largest file accepted.

    Returns
    -------
    symusic.Score
        The parsed score, with its notes sorted; a note struck again before its note-off ends
        there (:func:`restruck_notes`).

    Raises
    ------
    MidiError
        If the file is missing, empty, corrupt, or past a limit.
    """
    max_notes = _NOTE_LIMIT.get() if max_notes is None else max_notes
    path = Path(path)
    if not path.exists():
        raise MidiError(f"{path}: no such file")
    if path.is_dir():
        raise MidiError(f"{path}: is a folder, not a MIDI file")
    try:
        data = read_regular_file(path, max_bytes)
    except NotARegularFile as exc:
        raise MidiError(f"{path}: {exc}") from None
    except OSError as exc:
        raise MidiError(f"{path}: cannot read ({exc.strerror})") from None
    check_midi_bytes(data, str(path))
    score = _parsed(data, path, max_notes)
    fixed = restruck_notes(data)  # after the limits: a MIDI bomb is refused before Python reads its events
    return score if fixed is None else _parsed(fixed, path, max_notes)


def _parsed(data: bytes, path: Path, max_notes: int) -> Score:
    """The ``symusic.Score`` of checked MIDI bytes, refused past the note and length limits."""
    from symusic import Score

    try:
        score = Score.from_midi(data)
    except Exception as exc:  # symusic raises plain RuntimeError/ValueError on bad events
        raise MidiError(f"{path}: corrupt MIDI ({exc})") from None
    n = sum(len(t.notes) for t in score.tracks)
    if n > max_notes:
        raise MidiError(f"{path}: {n} notes is over the limit of {max_notes} (raise --max-notes)")
    if score.tpq <= 0:
        raise MidiError(f"{path}: 0 ticks per quarter note")
    if n and score.end() / score.tpq > MAX_BEATS:
        raise MidiError(f"{path}: {score.end() / score.tpq:.0f} beats long (limit {MAX_BEATS:.0f})")
    return score


def track_notes(track: Any, tpq: int) -> list[Note]:
    """One ``symusic`` track's notes on a beat timeline (velocity clipped to 1-127), in track order."""
    t = float(tpq)
    return [Note(n.time / t, int(n.pitch), max(n.duration, 1) / t, int(max(1, min(127, n.velocity))))
            for n in track.notes]


def fermata_marks(score: Score) -> list[float]:
    """The beats (quarter notes from the start) of a score's markers named ``fermata`` (:data:`FERMATA_MARKER`)."""
    return [m.time / score.tpq for m in score.markers if str(m.text).strip().lower() == FERMATA_MARKER]


def pitched_notes(score: Score) -> list[Note]:
    """All non-drum notes of ``score`` on a beat timeline, sorted."""
    return sorted(n for t in score.tracks if not t.is_drum for n in track_notes(t, score.tpq))


def score_from_voices(
    voices: Sequence[Sequence[Note]],
    names: Sequence[str],
    *,
    tempo: float = 120.0,
    time_signature: tuple[int, int] = (4, 4),
    key_signature: tuple[int, int] | None = None,
    program: int = 0,
    tpq: int = 480,
) -> Score:
    """A ``symusic.Score`` with one named track per voice (type-1 MIDI), and the key signature.

    ``key_signature`` is ``(sharps, minor)``: sharps -7..7 (negative = flats), minor 0/1, as the
    MIDI key-signature meta event stores it (see :func:`composer.keys.key_signature`).
    """
    from symusic import KeySignature

    score = score_from_notes([], tempo=tempo, time_signature=time_signature, program=program, tpq=tpq)
    score.tracks.clear()
    if key_signature is not None:
        score.key_signatures.append(KeySignature(0, *key_signature))
    for voice, name in zip(voices, names, strict=True):
        score.tracks.append(score_from_notes(voice, program=program, tpq=tpq, name=name).tracks[0])
    return score


def score_from_notes(
    notes: Iterable[Note],
    *,
    tempo: float = 120.0,
    time_signature: tuple[int, int] = (4, 4),
    program: int = 0,
    tpq: int = 480,
    name: str = "composer",
) -> Score:
    """Build a one-track ``symusic.Score`` from beat-timed notes."""
    from symusic import Note as SNote
    from symusic import Score, Tempo, TimeSignature, Track

    score = Score(tpq)
    score.tempos.append(Tempo(0, qpm=float(tempo)))
    score.time_signatures.append(TimeSignature(0, *time_signature))
    track = Track(name, int(program), False)
    for n in notes:
        track.notes.append(
            SNote(round(n.start * tpq), max(1, round(n.duration * tpq)), n.pitch, n.velocity)
        )
    track.notes.sort()
    score.tracks.append(track)
    return score


def write_score(score: Score, path: str | Path, *, force: bool = False) -> Path:
    """Write a ``symusic.Score`` as a standard MIDI file, atomically."""
    return write_bytes_atomic(bytes(score.dumps_midi()), path, force=force)


def find_midi_files(folder: str | Path) -> list[Path]:
    """All ``.mid``/``.midi`` files below ``folder`` (recursive), sorted."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".midi"))


def notes_span_beats(notes: Sequence[Note]) -> float:
    """Beat at which the last note ends (0 for no notes)."""
    return max((n.end for n in notes), default=0.0)


# ---------------------------------------------------------------- notes struck again before their note-off


def _vlq_at(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The variable-length quantity at ``pos``: (value, position after it); ValueError if malformed."""
    value = 0
    for _ in range(4):
        if pos >= end:
            raise ValueError("truncated")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos
    raise ValueError("overlong quantity")


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _track_events(data: bytes, pos: int, end: int) -> list[tuple[int, bytes]]:
    """A track chunk's events up to End of Track: (tick, the event's bytes, status byte always written)."""
    out: list[tuple[int, bytes]] = []
    tick, running = 0, 0
    while pos < end:
        delta, pos = _vlq_at(data, pos, end)
        tick += delta
        if pos >= end:
            raise ValueError("truncated")
        status = data[pos]
        if status in (0xFF, 0xF0, 0xF7):  # meta (type, length, data) or sysex (length, data)
            length, body = _vlq_at(data, pos + (2 if status == 0xFF else 1), end)
            if body + length > end:
                raise ValueError("truncated")
            out.append((tick, data[pos : body + length]))
            if status == 0xFF and data[pos + 1] == 0x2F:
                break
            pos = body + length
            continue
        if status & 0x80:
            running, pos = status, pos + 1
        if running < 0x80 or running >= 0xF0:
            raise ValueError("no channel status")
        width = 1 if 0xC0 <= running < 0xE0 else 2
        if pos + width > end:
            raise ValueError("truncated")
        out.append((tick, bytes([running]) + data[pos : pos + width]))
        pos += width
    return out


def _restruck(events: list[tuple[int, bytes]]) -> list[tuple[int, bytes]] | None:
    """A track's events with each note struck again before its note-off ended there; None if none was.

    A note-on of a key (channel and pitch) that sounds since an earlier tick ends that note first
    (as a keyboard or a synthesizer does); the note-off meant for it, which would end the next note
    of that key, is dropped.  A note-off of a silent key followed at the same tick by a note-on of
    it is a zero-length note written off first (music21 writes grace notes so): the note-on gets its
    note-off.  Notes struck together (unisons) are left as they are.
    """
    out: list[tuple[int, bytes]] = []
    sounding: dict[tuple[int, int], list[int]] = {}  # key -> start ticks of its sounding notes
    owed: dict[tuple[int, int], int] = {}  # key -> note-offs due for notes ended by a new note-on
    orphans: dict[tuple[int, int], tuple[int, int]] = {}  # key -> (tick, count) of note-offs of it silent
    changed = False
    for tick, ev in events:
        kind = ev[0] & 0xF0
        if kind not in (0x80, 0x90):
            out.append((tick, ev))
            continue
        key = (ev[0] & 0x0F, ev[1])
        starts = sounding.setdefault(key, [])
        if kind == 0x90 and ev[2] > 0:
            if starts and starts[0] < tick:  # struck again: the sounding notes end here
                out.extend((tick, bytes([0x80 | key[0], key[1], 0])) for _ in starts)
                owed[key] = owed.get(key, 0) + len(starts)
                starts.clear()
                changed = True
            out.append((tick, ev))
            at, count = orphans.get(key, (-1, 0))
            if at == tick and count:  # its note-off came first: a zero-length note
                orphans[key] = (at, count - 1)
                out.append((tick, bytes([0x80 | key[0], key[1], 0])))
                changed = True
            else:
                starts.append(tick)
        elif starts:
            starts.pop(0)
            out.append((tick, ev))
        elif owed.get(key):
            owed[key] -= 1
            changed = True
        else:
            at, count = orphans.get(key, (-1, 0))
            orphans[key] = (tick, count + 1 if at == tick else 1)
    return out if changed else None


def restruck_notes(data: bytes) -> bytes | None:
    """``data`` (a checked MIDI file) with notes struck again before their note-off ended there, or None.

    symusic pairs a key's note-offs with its note-ons first in, first out: where a note is struck
    again before it is released (a unison of two voices on one track, a piano part's repeated
    note), every later note of that key gets the note-off of the one before, and notes run on for
    dozens of bars.  Each track chunk is rewritten by :func:`_restruck`; a file that needs nothing
    (or that this reader cannot follow) gives None and is read as it is.
    """
    (hlen,) = struct.unpack(">I", data[4:8])
    parts, pos, changed = [data[: 8 + hlen]], 8 + hlen, False
    while pos + 8 <= len(data):
        (clen,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        chunk = data[pos : pos + 8 + clen]
        if data[pos : pos + 4] == b"MTrk":
            try:
                events = _restruck(_track_events(data, pos + 8, pos + 8 + clen))
            except (ValueError, IndexError):
                return None
            if events is not None:
                ticks = [0] + [t for t, _ in events]
                body = b"".join(_vlq(t - last) + ev for last, (t, ev) in zip(ticks, events, strict=False))
                chunk, changed = b"MTrk" + struct.pack(">I", len(body)) + body, True
        parts.append(chunk)
        pos += 8 + clen
    parts.append(data[pos:])
    return b"".join(parts) if changed else None
