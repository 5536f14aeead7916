"""A voice-aware token code for four-part music (the chorales): every voice at every grid step.

MidiTok's REMI merges the voices into one stream: which voice a note belongs to, and what is
still sounding, must be remembered from tokens far back, and fermatas are lost.  This code
follows BachBot (Liang & Gotham, ISMIR 2017): time is a grid of ``grid`` steps per quarter note
(16ths by default) and every step lists the four voices, soprano first, each as a new note
(``Pitch_p``), a held note (``Hold_p``: the same pitch, tied over) or ``Rest_None``.  So the
model writes the melody first and chooses each lower voice knowing the voices above it and
everything still sounding.  On top of BachBot's frames::

    BOS Style Key | TimeSig_4/4 | Bar Left_3 Pos_0 [Fermata] S A T B  Pos_1 S A T B ... | ... EOS

* ``Bar`` opens each bar and ``Left_k`` says how many bars remain (8 = eight or more), so the
  model knows where the piece is going and can cadence at its end;
* ``Pos_k`` opens each step (k = step in the bar), so the metre is explicit;
* ``Fermata_None`` marks the steps of a fermata chord: the phrase ends of the chorales.

Pieces are stored in C major or A minor: the corpus transposes each piece by the shift that
takes its key there (relative keys share it), and generation transposes back to the key asked
for.  The ``Key_*`` control then only tells major from minor, and the data are not spread over
twelve keys.  A piece's voices are its tracks (highest first); fermatas come from the MIDI
markers named ``fermata`` that the corpus writes from the music21 scores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from composer.config import TokenizerSpec
from composer.errors import InputError, MidiError
from composer.events import Note
from composer.keys import KEY_NAMES, find_key, transpose_key_index
from composer.midifile import fermata_marks, track_notes
from composer.tokenizer import SPECIAL_TOKENS, TEMPO_BANDS, int_values, key_indices, strip_controls, tempo_band

if TYPE_CHECKING:
    from symusic import Score

KIND = "SATB"
VOICES = 4  # soprano, alto, tenor, bass
VOICE_NAMES = ("Soprano", "Alto", "Tenor", "Bass")
MAX_LEFT = 8  # Left_8 = eight or more bars to go
MAX_STEPS_PER_BAR = 48  # 12 quarter notes at 16ths
METERS = ("2/4", "3/4", "4/4", "5/4", "6/4", "3/2", "2/2", "4/2", "3/8", "6/8", "9/8", "12/8")


def canonical_shift(key_index: int) -> int:
    """Semitones (-6..5) that take a key to C major (major keys) or A minor (minor keys)."""
    tonic, minor = divmod(key_index, 2)
    target = 9 if minor else 0
    return (target - tonic + 6) % 12 - 6


def canonical_key(key_index: int) -> int:
    """C major (0) or A minor (19): where :func:`canonical_shift` takes ``key_index``."""
    return 19 if key_index % 2 else 0


@dataclass
class VoicedPiece:
    """Four voices on the step grid, what the codec encodes and decodes."""

    voices: list[list[Note]]  # soprano first; beats (quarters) from the first bar line
    numerator: int = 4
    denominator: int = 4
    fermatas: tuple[float, ...] = ()  # onsets (beats) of fermata chords
    bars: int = 0  # bars covered (the last one completed with rests)


class VoiceGridCodec:
    """Token ids <-> four-voice music on a step grid (see the module docstring).

    Parameters
    ----------
    spec : TokenizerSpec
        ``kind`` must be ``"SATB"``; ``pitch_range`` bounds the pitch tokens and the largest
        value of ``beat_res`` is the grid (steps per quarter note).
    styles : sequence of str
        Style names that get a control token each (corpus names).
    """

    def __init__(self, spec: TokenizerSpec, styles: Sequence[str] = ()) -> None:
        if spec.kind != KIND:
            raise ValueError(f"VoiceGridCodec needs tokenizer kind {KIND}, got {spec.kind}")
        self.spec = spec
        self.styles = tuple(styles)
        self.grid = max(spec.beat_res.values())  # steps per quarter note
        lo, hi = spec.pitch_range
        tokens = [f"{s}_None" for s in SPECIAL_TOKENS] + ["Bar_None", "Fermata_None", "Rest_None"]
        tokens += [f"TimeSig_{m}" for m in METERS]
        tokens += [f"Left_{k}" for k in range(1, MAX_LEFT + 1)]
        tokens += [f"Pos_{k}" for k in range(MAX_STEPS_PER_BAR)]
        tokens += [f"Pitch_{p}" for p in range(lo, hi + 1)] + [f"Hold_{p}" for p in range(lo, hi + 1)]
        self.base_size = len(tokens)
        controls = [f"Style_{s}" for s in self.styles]
        controls += [f"Key_{k.replace(' ', '_')}" for k in KEY_NAMES]
        controls += [f"TempoBand_{b}" for b in TEMPO_BANDS]
        self.controls = tuple(controls)
        self.tokens = tuple(tokens) + self.controls
        self.vocab_size = len(self.tokens)
        self._ids = {t: i for i, t in enumerate(self.tokens)}

    # ---- identity ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-native description, enough to rebuild an identical codec."""
        return {"spec": self.spec.to_dict(), "styles": list(self.styles), "hash": self.hash}

    @property
    def hash(self) -> str:
        """Hash of spec + styles + this code's version: equal hashes mean interchangeable ids."""
        blob = json.dumps({"spec": self.spec.to_dict(), "styles": list(self.styles), "code": "satb-1"},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # ---- ids ----------------------------------------------------------------------------------
    def id_of(self, token: str) -> int:
        """Id of a token string, e.g. ``"Pitch_60"``; ``KeyError`` if unknown."""
        return self._ids[token]

    def token_of(self, idx: int) -> str:
        """Token string of an id."""
        return self.tokens[int(idx)]

    def has(self, token: str) -> bool:
        """Whether ``token`` is in the vocabulary."""
        return token in self._ids

    @property
    def bos(self) -> int:
        """Beginning-of-sequence id."""
        return self._ids["BOS_None"]

    @property
    def eos(self) -> int:
        """End-of-sequence id."""
        return self._ids["EOS_None"]

    @property
    def pad(self) -> int:
        """Padding id."""
        return self._ids["PAD_None"]

    def style_id(self, style: str) -> int:
        """Control id of a style; ``ValueError`` listing the known styles."""
        name = f"Style_{style}"
        if name not in self._ids:
            raise ValueError(f"unknown style {style!r}; known: {', '.join(self.styles) or 'none'}")
        return self._ids[name]

    def key_id(self, key_index: int) -> int:
        """Control id of a key (index into :data:`composer.keys.KEY_NAMES`)."""
        return self._ids[f"Key_{KEY_NAMES[key_index].replace(' ', '_')}"]

    def tempo_id(self, bpm: float) -> int:
        """Control id of the tempo band holding ``bpm``."""
        return self._ids[f"TempoBand_{tempo_band(bpm)}"]

    def prefix(self, style: str | None, key_index: int | None, bpm: float | None) -> list[int]:
        """The control prefix ``BOS [Style] [Key]``; the key is the canonical one of its mode.

        Pieces are stored in C major / A minor, so the Key control carries the mode only; the
        tempo is not a control of this code (``bpm`` is ignored).
        """
        ids = [self.bos]
        if style is not None and f"Style_{style}" in self._ids:
            ids.append(self.style_id(style))
        if key_index is not None:
            ids.append(self.key_id(canonical_key(key_index)))
        return ids

    # ---- tables ---------------------------------------------------------------------------------
    @cached_property
    def types(self) -> list[str]:
        """Token type of each id ("Pitch", "Hold", "Pos", "Bar", ..., "Key")."""
        return [t.split("_", 1)[0] for t in self.tokens]

    @cached_property
    def values(self) -> list[str]:
        """Token value of each id (the part after the first ``_``)."""
        return [t.split("_", 1)[1] for t in self.tokens]

    @cached_property
    def pitch_of(self) -> np.ndarray:
        """(V,) MIDI pitch of each Pitch and Hold id, -1 elsewhere."""
        return int_values(self.types, self.values, ("Pitch", "Hold"))

    @cached_property
    def key_of(self) -> np.ndarray:
        """(V,) key index of each Key control id, -1 elsewhere."""
        return key_indices(self.vocab_size, self.key_id)

    def transpose_table(self, semitones: int) -> np.ndarray:
        """(V,) id map moving Pitch/Hold tokens and Key controls by ``semitones`` (-1: out of range)."""
        table = np.arange(self.vocab_size, dtype=np.int64)
        lo, hi = self.spec.pitch_range
        for i in np.nonzero(self.pitch_of >= 0)[0]:
            p = int(self.pitch_of[i]) + semitones
            table[i] = self._ids[f"{self.types[i]}_{p}"] if lo <= p <= hi else -1
        for i in np.nonzero(self.key_of >= 0)[0]:
            table[i] = self.key_id(transpose_key_index(int(self.key_of[i]), semitones))
        return table

    # ---- music -> ids ---------------------------------------------------------------------------
    def encode_score(self, score: Score) -> np.ndarray:
        """Ids of a score whose pitched tracks are its voices (no controls), in C major / A minor.

        Raises
        ------
        MidiError
            If the score does not have four voices.
        """
        piece = voiced_piece_from_score(score, self.grid)
        key, _ = find_key([n for v in piece.voices for n in v])
        return np.asarray(self.encode(piece, canonical_shift(key)), dtype=np.int32)

    def encode(self, piece: VoicedPiece, semitones: int = 0) -> list[int]:
        """Ids of a voiced piece, transposed by ``semitones`` (no controls, no EOS)."""
        g = self.grid
        bar_steps = round(piece.numerator * 4 / piece.denominator * g)
        if not 0 < bar_steps <= MAX_STEPS_PER_BAR:
            raise MidiError(f"bars of {piece.numerator}/{piece.denominator} are too long for this code")
        meter = f"TimeSig_{piece.numerator}/{piece.denominator}"
        if meter not in self._ids:
            raise MidiError(f"time signature {piece.numerator}/{piece.denominator} is not in this code")
        frames = _frames(piece, g, piece.bars * bar_steps, semitones)
        fermata = _fermata_steps(piece, g, piece.bars * bar_steps)
        lo, hi = self.spec.pitch_range
        ids = [self._ids[meter]]
        for step, frame in enumerate(frames):
            bar, pos = divmod(step, bar_steps)
            if pos == 0:
                ids += [self._ids["Bar_None"], self._ids[f"Left_{min(piece.bars - bar, MAX_LEFT)}"]]
            ids.append(self._ids[f"Pos_{pos}"])
            if fermata[step]:
                ids.append(self._ids["Fermata_None"])
            for kind, pitch in frame:
                if kind == "Rest":
                    ids.append(self._ids["Rest_None"])
                    continue
                if not lo <= pitch <= hi:
                    raise MidiError(f"pitch {pitch} is outside the code's range {lo}..{hi}")
                ids.append(self._ids[f"{kind}_{pitch}"])
        return ids

    # ---- ids -> music ---------------------------------------------------------------------------
    def decode_piece(self, ids: Sequence[int] | np.ndarray) -> VoicedPiece:
        """The voices of ``ids`` (controls and specials ignored; a broken frame is skipped)."""
        g = self.grid
        num, den = 4, 4
        bar_start = -1.0
        bars, step_in_frame, now, at = 0, VOICES, 0.0, 0
        fermatas: list[float] = []
        # each voice's notes as runs [first grid step, pitch, step after the last] (notes made at the end)
        runs: list[list[list[int]]] = [[] for _ in range(VOICES)]
        pitches, pos_step, bar_steps = self.pitches, self.pos_steps, round(num * 4 / den * g)
        for i in ids:
            t = self.types[int(i)]
            if t in ("Pitch", "Hold", "Rest") and step_in_frame < VOICES:
                if t != "Rest":
                    pitch, voice = pitches[int(i)], runs[step_in_frame]
                    run = voice[-1] if voice else None
                    if t == "Hold" and run is not None and run[1] == pitch and run[2] == at:
                        run[2] = at + 1  # tied over (the rule of :func:`add_step`)
                    else:
                        voice.append([at, pitch, at + 1])
                step_in_frame += 1
            elif t == "EOS":
                break
            elif t == "TimeSig":
                num, den = (int(x) for x in self.values[int(i)].split("/"))
                bar_steps = round(num * 4 / den * g)
            elif t == "Bar":
                bar_start = 0.0 if bar_start < 0 else bar_start + num * 4 / den
                bars += 1
            elif t == "Pos":
                pos = pos_step[int(i)]
                now = max(bar_start, 0.0) + pos / g
                at = max(bars - 1, 0) * bar_steps + pos  # the grid step (as GridState.step)
                step_in_frame = 0
            elif t == "Fermata":
                if not fermatas or fermatas[-1] < now - 1e-9:
                    fermatas.append(now)
        voices = [[grid_note(a, pitch, b, g) for a, pitch, b in voice] for voice in runs]
        return VoicedPiece(voices, num, den, _first_onsets(fermatas, voices), bars)

    @cached_property
    def pos_steps(self) -> dict[int, int]:
        """Pos id -> its grid step in the bar."""
        return {i: int(v) for i, (t, v) in enumerate(zip(self.types, self.values, strict=True)) if t == "Pos"}

    @cached_property
    def pitches(self) -> list[int]:
        """:attr:`pitch_of` as a list of ints (per-token lookups without numpy scalars)."""
        return [int(p) for p in self.pitch_of]

    def music_ids(self, ids: Sequence[int] | np.ndarray) -> list[int]:
        """The music ids of ``ids``: controls and special tokens dropped, cut at EOS."""
        return strip_controls(ids, self.base_size, self.eos, {self.bos, self.pad})


def add_step(voice: list[Note], kind: str, pitch: int, at: int, grid: int) -> None:
    """Extend the voice by grid step ``at``: a new note, a held one, or nothing (a rest).

    The rule of ties for following a stream as it is sampled; :meth:`VoiceGridCodec.decode_piece`
    applies the same one to runs of steps: a ``Hold`` of the pitch the voice's last note sounds up to
    this step extends it, any other ``Hold`` starts a note.  Times are counted in whole grid steps
    (no drift at grids that are not a power of two).
    """
    if kind == "Rest":
        return
    last = voice[-1] if voice else None
    if kind == "Hold" and last is not None and last.pitch == pitch and round(last.end * grid) == at:
        voice[-1] = grid_note(round(last.start * grid), pitch, at + 1, grid)
    else:
        voice.append(grid_note(at, pitch, at + 1, grid))


def grid_note(first: int, pitch: int, end: int, grid: int) -> Note:
    """The note sounding from grid step ``first`` up to step ``end``."""
    return Note(round(first / grid, 6), pitch, round((end - first) / grid, 6), 80)


def _first_onsets(fermatas: list[float], voices: list[list[Note]]) -> tuple[float, ...]:
    """Fermata steps reduced to the onset of the soprano note each falls in."""
    out: list[float] = []
    soprano, k = voices[0], 0
    for t in fermatas:  # (in time order, as the soprano's notes: a note that ends by one fermata holds no later one)
        while k < len(soprano) and soprano[k].end - 1e-6 <= t:
            k += 1
        onset = soprano[k].start if k < len(soprano) and soprano[k].start - 1e-6 <= t else t
        if not out or abs(out[-1] - onset) > 1e-6:
            out.append(onset)
    return tuple(out)


def _frames(piece: VoicedPiece, grid: int, steps: int, semitones: int) -> list[list[tuple[str, int]]]:
    """(kind, pitch) per voice per step: ``Pitch`` on an attack, ``Hold`` while it lasts, ``Rest``."""
    frames = [[("Rest", -1)] * VOICES for _ in range(steps)]
    for v, voice in enumerate(piece.voices):
        for n in voice:
            a = round(n.start * grid)
            b = max(a + 1, round(n.end * grid))
            for s in range(max(a, 0), min(b, steps)):
                frames[s][v] = ("Pitch" if s == a else "Hold", n.pitch + semitones)
    return frames


def _fermata_steps(piece: VoicedPiece, grid: int, steps: int) -> list[bool]:
    """Steps under a fermata: from its onset while the soprano's note there lasts."""
    marked = [False] * steps
    for s in fermata_steps(piece.voices[0], piece.fermatas, grid):
        if s < steps:
            marked[s] = True
    return marked


def fermata_steps(soprano: Sequence[Note], fermatas: Sequence[float], grid: int) -> list[int]:
    """The grid steps under fermatas at onsets ``fermatas`` (beats): from each while the soprano's note there lasts.

    What the code marks ``Fermata`` (a beat long where the soprano rests), and the steps of a given
    melody's phrase ends when it is harmonized.
    """
    out: list[int] = []
    for t in fermatas:
        end = next((n.end for n in soprano if n.start - 1e-6 <= t < n.end - 1e-6), t + 1.0)
        out += range(max(round(t * grid), 0), round(end * grid))
    return sorted(set(out))


def voiced_piece_from_score(score: Score, grid: int) -> VoicedPiece:
    """Four monophonic voices (highest track first) on the grid, with fermata markers.

    Raises
    ------
    MidiError
        Unless the score has four pitched tracks.
    """
    tracks = [t for t in score.tracks if not t.is_drum and len(t.notes)]
    if len(tracks) != VOICES:
        raise MidiError(f"{len(tracks)} voices (tracks with notes), this code needs {VOICES}")
    tpq = score.tpq
    voices = []
    for t in tracks:
        notes = track_notes(t, tpq)
        voices.append(_monophonic(notes, grid))
    voices.sort(key=lambda v: -float(np.mean([n.pitch for n in v])))
    ts = score.time_signatures
    num, den = (ts[0].numerator, ts[0].denominator) if len(ts) else (4, 4)
    bar = num * 4 / den
    end = max(n.end for v in voices for n in v)
    bars = max(1, int(np.ceil(end / bar - 1e-6)))
    fermatas = sorted({round(t * grid) / grid for t in fermata_marks(score)})
    return VoicedPiece(voices, num, den, tuple(fermatas), bars)


def _monophonic(notes: list[Note], grid: int) -> list[Note]:
    """Quantized to the grid, one note at a time.

    Of notes starting together the highest is kept; a note is cut where the next one starts.
    """
    q = [Note(round(n.start * grid) / grid, n.pitch, max(1, round(n.end * grid) - round(n.start * grid)) / grid,
              n.velocity) for n in notes]
    q.sort(key=lambda n: (n.start, -n.pitch))
    out: list[Note] = []
    for n in q:
        if out and abs(out[-1].start - n.start) < 1e-9:
            continue  # a chord inside one voice: keep its highest note
        if out and out[-1].end > n.start + 1e-9:
            out[-1] = Note(out[-1].start, out[-1].pitch, round(n.start - out[-1].start, 6), out[-1].velocity)
        out.append(n)
    return out


def melody_steps(codec: VoiceGridCodec, melody: Sequence[Note], semitones: int) -> dict[int, int]:
    """Grid step -> the soprano token (``Pitch``/``Hold``/``Rest``) of a melody moved by ``semitones``.

    Raises
    ------
    InputError
        If a melody note falls outside the soprano's range after the move to C major / A minor.
    """
    g = codec.grid
    end = round(max(n.end for n in melody) * g)
    steps = {s: codec.id_of("Rest_None") for s in range(end)}
    lo, hi = codec.spec.pitch_range
    for n in melody:
        p = n.pitch + semitones
        if not lo <= p <= hi:
            raise InputError(f"melody note {n.pitch} is out of this model's range")
        a, b = round(n.start * g), max(round(n.start * g) + 1, round(n.end * g))
        for s in range(a, b):
            steps[s] = codec.id_of(f"{'Pitch' if s == a else 'Hold'}_{p}")
    return steps


def final_melody_onset(codec: VoiceGridCodec, steps: dict[int, int], min_steps: int = 1) -> int | None:
    """The grid step where a melody (:func:`melody_steps`) strikes its last note, if it lasts ``min_steps``."""
    struck = [k for k, t in steps.items() if codec.types[t] == "Pitch"]
    if not struck or sum(k >= max(struck) for k in steps) < min_steps:
        return None
    return max(struck)
