"""The REMI grammar of sampling, with key, range, polyphony and length masks.

:class:`RemiState` follows a REMI token stream: it knows which token types may
come next (MidiTok's token-type graph, plus "no Position going backwards
inside a bar" and "no Position past the bar's end"), applies the optional
constraints as masks, and turns tokens into :class:`~composer.events.Note`
objects as soon as each note is complete, so the same code serves whole
pieces and endless live streams.  Every sampled sequence decodes to valid MIDI.
The sampling loop that drives it is in :mod:`composer.generation.sampler`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from composer.config import SampleOptions
from composer.errors import InputError
from composer.events import Note
from composer.keys import scale_pitch_classes
from composer.tokenizer import Codec


@dataclass
class Vocab:
    """Per-codec tables, built once: type masks and decoded token values."""

    res: int = 0  # positions per (time-signature) beat
    type_mask: dict[str, np.ndarray] = field(default_factory=dict)
    position: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (V,) position value or -1
    duration: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (V,) in ts-beats or -1
    timesig: dict[int, tuple[int, int]] = field(default_factory=dict)
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def of(cls, codec: Codec) -> Vocab:
        """Tables of ``codec`` (cached while the codec lives)."""
        cached = _VOCABS.get(codec)
        if cached is not None:
            return cached
        v = cls()
        types = np.array(codec.types)
        for t in set(codec.types):
            v.type_mask[t] = types == t
        size = codec.vocab_size
        v.position = np.full(size, -1, dtype=np.int64)
        v.duration = np.full(size, -1.0)
        v.velocity = np.full(size, -1, dtype=np.int64)
        for i, (t, val) in enumerate(zip(codec.types, codec.values, strict=True)):
            if t == "Position":
                v.position[i] = int(val)
            elif t == "Duration":
                b, p, r = (int(x) for x in val.split("."))
                v.duration[i] = b + p / r
            elif t == "TimeSig":
                num, den = val.split("/")
                v.timesig[i] = (int(num), int(den))
            elif t == "Velocity":
                v.velocity[i] = int(val)
        v.res = max(codec.spec.beat_res.values())
        _VOCABS[codec] = v
        return v


# One Vocab per live codec; the tables hold no reference back to it, so a codec is freed as before.
_VOCABS: weakref.WeakKeyDictionary[Codec, Vocab] = weakref.WeakKeyDictionary()


_CONTROL_NEXT = {"BOS": "Style", "Style": "Key", "Key": "TempoBand", "TempoBand": "Bar"}


#: Most notes one position may start: a guard against a model stuck repeating Pitch tokens
#: (a chorale chord has 4; even dense piano writing rarely starts more than 10 at once).
MAX_ONSET_NOTES = 16


def final_onset_by(steps_per_bar: int, numerator: int) -> int:
    """Step of the last bar by which a piece's final onset must come.

    The half bar in even metres, the downbeat in odd ones: the ending rule of both grammars,
    REMI and the SATB grid.
    """
    return steps_per_bar // 2 if numerator % 2 == 0 else 0


class RemiState:
    """Grammar and timeline of a REMI token stream, with constraint masks.

    Parameters
    ----------
    codec : Codec
        A REMI codec.
    options : SampleOptions
        Key, pitch range and polyphony constraints.
    bars : int or None
        Stop after this many bars (EOS replaces the next Bar); ``None`` = endless.
    """

    def __init__(self, codec: Codec, options: SampleOptions, bars: int | None = None) -> None:
        if codec.spec.kind != "REMI":
            raise InputError(f"sampling needs a REMI tokenizer, this checkpoint uses {codec.spec.kind}")
        self.v = Vocab.of(codec)
        self.codec, self.options, self.target_bars = codec, options, bars
        self.last = "BOS"
        self.bar = -1  # index of the current bar
        self.bar_start = 0.0  # beats (quarters) at the current bar line
        self.ts = (4, 4)
        self.pos = -1  # position inside the bar, in 1/res of a ts-beat
        self.pitch = -1  # pitch waiting for its duration
        self.velocity = 100
        self.ends: list[float] = []  # end beats of sounding notes (polyphony)
        self.time_signatures: list[tuple[float, int, int]] = []
        self.done = False
        self.min_onset = 0.0  # no new note may start before this beat (continuations)
        self.forced: dict[str, int] = {}  # control type -> the id it must take
        self.ts_id: int | None = None  # the TimeSig token every bar repeats, once known
        self.onset_notes = 0  # notes started at the current position
        self.bar_is_eos = False  # set by allowed(): EOS stands in for the Bar that would pass the target
        self.bias: np.ndarray | None = None  # (V,) logit offsets once the Key control is known (key_bias)
        self._static = self._static_mask(codec, options)
        # The ending (a piece of ``bars`` bars): the last bar's final onset comes at the half bar at
        # the latest, on the tonic (a chord there: tonic-triad notes, the tonic first), lasting to the
        # bar line; nothing after it.  Subclasses that fix the music (a melody) turn it off.
        self.ending = bars is not None
        self.tonic: int | None = None  # pitch class of the Key control's tonic, once known
        self.final_pos: int | None = None  # position of the final onset, once written

    # ---- time -------------------------------------------------------------------------------
    @property
    def beat_len(self) -> float:
        """Quarter notes per time-signature beat (2 for x/2, 1 for x/4, 0.5 for x/8)."""
        return 4.0 / self.ts[1]

    @property
    def bar_len(self) -> float:
        """Quarter notes per bar."""
        return self.ts[0] * self.beat_len

    @property
    def now(self) -> float:
        """Current onset time in beats (quarters)."""
        return self.bar_start + max(self.pos, 0) / self.v.res * self.beat_len

    @property
    def end_beat(self) -> float:
        """Beat of the end of the last complete bar (where a finished piece stops)."""
        return self.bar_start + (self.bar_len if self.bar >= 0 else 0.0)

    # ---- masks -------------------------------------------------------------------------------
    def _static_mask(self, codec: Codec, o: SampleOptions) -> np.ndarray:
        ok = np.ones(codec.vocab_size, dtype=bool)
        pitch = codec.pitch_of
        is_pitch = pitch >= 0
        ok &= ~is_pitch | ((pitch >= o.pitch_min) & (pitch <= o.pitch_max))
        if o.key_index is not None:
            pcs = scale_pitch_classes(o.key_index)
            in_key = np.isin(pitch % 12, sorted(pcs))
            ok &= ~is_pitch | in_key
        if not (ok & is_pitch).any():
            raise InputError(
                f"no pitch satisfies the constraints (range {o.pitch_min}..{o.pitch_max}, key {o.key})"
            )
        return ok

    def _key_bias(self, token: int) -> np.ndarray:
        pcs = sorted(scale_pitch_classes(int(self.codec.key_of[token])))
        pitch = self.codec.pitch_of
        outside = (pitch >= 0) & ~np.isin(pitch % 12, pcs)
        return np.where(outside, -float(self.options.key_bias), 0.0).astype(np.float32)

    def _in_last_bar(self) -> bool:
        return (self.ending and self.tonic is not None and self.target_bars is not None
                and self.bar == self.target_bars - 1)

    def _end_by(self) -> int:
        """Position of the final onset's latest place in the last bar (see :func:`final_onset_by`)."""
        return final_onset_by(self.ts[0] * self.v.res, self.ts[0])

    def _final_pitches(self) -> np.ndarray:
        """(V,) the pitches the final onset may take: the tonic first, then the tonic triad."""
        pitch = self.codec.pitch_of
        tonic = int(self.tonic or 0)
        pcs = [tonic] if self.onset_notes == 0 else [tonic, (tonic + 3) % 12, (tonic + 4) % 12, (tonic + 7) % 12]
        return (pitch >= 0) & np.isin(pitch % 12, pcs)

    def allowed(self) -> np.ndarray:
        """(V,) bool: the tokens that may come next."""
        m = self._allowed()
        if self._in_last_bar():
            m = self._ending_mask(m)
        return m

    def _ending_mask(self, m: np.ndarray) -> np.ndarray:
        tm = self.v.type_mask
        at_final = self.final_pos is not None and self.pos == self.final_pos
        if self.final_pos is not None:
            m = m & ~tm["Position"]  # nothing starts after the final onset
        else:  # on to the final onset: only beats up to it (a bounded, plain lead-in), no end yet
            p = self.v.position
            lead_in = (p <= self._end_by()) & (p % self.v.res == 0)
            m = m & (~tm["Position"] | lead_in) & ~tm["EOS"] & ~tm["Bar"]
        if at_final or (self.final_pos is None and self.last == "Position" and self.pos == self._end_by()):
            m = m & (~tm["Pitch"] | self._final_pitches())
        if at_final and self.last in ("Pitch", "Velocity"):  # the final note lasts to the bar line
            need = (self.bar_start + self.bar_len - self.now) / self.beat_len
            longer = tm["Duration"] & (self.v.duration >= need - 1e-6)
            m = m & (~tm["Duration"] | longer) if (m & longer).any() else m
        if not m.any():  # the rule never leaves nothing: fall back to the plain grammar
            return self._allowed()
        return m

    def _allowed(self) -> np.ndarray:
        tm = self.v.type_mask
        none = np.zeros(self.codec.vocab_size, dtype=bool)
        self.bar_is_eos = False
        if self.done:
            return tm["EOS"].copy()
        last = self.last
        if last in _CONTROL_NEXT:
            nxt = _CONTROL_NEXT[last]
            while nxt != "Bar" and nxt not in tm:  # a codec without this control
                nxt = _CONTROL_NEXT[nxt]
            if nxt in self.forced:
                m = none.copy()
                m[self.forced[nxt]] = True
                return m
            if nxt != "Bar":
                return tm[nxt].copy()
            m = tm["Bar"].copy()
        elif last == "Bar":
            if "TimeSig" not in tm:
                m = self._positions()
            elif self.ts_id is not None:  # one meter per piece: the first bar's, or the primer's
                m = none.copy()
                m[self.ts_id] = True
            else:
                m = tm["TimeSig"].copy()
        elif last == "TimeSig":
            m = self._positions() | tm["Bar"]
        elif last == "Position":
            m = tm["Pitch"] & self._static if self.has_room(first=True) else tm["Bar"].copy()
            if not m.any():
                m = tm["Bar"].copy()
        elif last == "Pitch":
            m = tm["Velocity"].copy() if "Velocity" in tm else self.duration_mask()
        elif last == "Velocity":
            m = self.duration_mask()
        elif last in ("Duration", "Tempo"):
            m = self._positions() | tm["Bar"]
            if self.has_room():
                m |= tm["Pitch"] & self._static
        else:
            m = tm["Bar"].copy()
        if m[self.codec.id_of("Bar_None")] and self.target_bars is not None:
            if self.bar + 1 >= self.target_bars:  # the next bar line ends the piece
                m = m & ~tm["Bar"] | tm["EOS"]
                self.bar_is_eos = True
                if not (m & ~tm["EOS"]).any():
                    m = tm["EOS"].copy()
        return m if m.any() else none | tm["Bar"]

    def _positions(self) -> np.ndarray:
        p = self.v.position
        ok = (p > self.pos) & (p < self.ts[0] * self.v.res)
        times = self.bar_start + np.maximum(p, 0) / self.v.res * self.beat_len  # (V,) beats
        if self.min_onset > self.bar_start:
            ok &= times >= self.min_onset - 1e-9
        limit = self.options.max_polyphony
        if limit and len(self.ends) >= limit:  # only where enough notes have ended
            ends = np.sort(np.array(self.ends))
            ok &= times >= ends[len(ends) - limit] - 1e-9
        return ok

    def duration_mask(self) -> np.ndarray:
        """(V,) bool: the Duration tokens the note being written may take (subclasses narrow it)."""
        return self.v.duration > 0

    def has_room(self, first: bool = False) -> bool:
        """Whether a new note may start now (``first``: the first at this Position, not yet counted)."""
        if self.now < self.min_onset - 1e-9:
            return False
        if not first and self.onset_notes >= MAX_ONSET_NOTES:
            return False
        limit = self.options.max_polyphony
        if not limit:
            return True
        return self.count_sounding() < limit

    def count_sounding(self) -> int:
        """Notes still sounding after the current onset."""
        now = self.now
        return sum(1 for e in self.ends if e > now + 1e-9)

    # ---- advancing ---------------------------------------------------------------------------
    def update(self, token: int) -> Note | None:
        """Advance by one token; return the note it completes, if any."""
        t = self.codec.types[token]
        note = None
        if t == "EOS":
            self.done = True
        elif t == "Bar":
            self.onset_notes = 0
            if self.bar >= 0:
                self.bar_start += self.bar_len
            self.bar += 1
            self.pos = -1
        elif t == "TimeSig":
            ts = self.v.timesig[token]
            if ts != self.ts or not self.time_signatures:
                if not self.time_signatures or self.time_signatures[-1][1:] != ts:
                    self.time_signatures.append((self.bar_start, *ts))
            self.ts = ts
            if self.ts_id is None:
                self.ts_id = token
        elif t == "Position":
            self.pos = int(self.v.position[token])
            self.onset_notes = 0
            if self._in_last_bar() and self.final_pos is None and self.pos >= self._end_by():
                self.final_pos = self.pos
            now = self.now
            self.ends = [e for e in self.ends if e > now + 1e-9]
        elif t == "Pitch":
            self.pitch = int(self.codec.pitch_of[token])
            self.onset_notes += 1
            if self.pos < 0:
                self.pos = 0
        elif t == "Velocity":
            self.velocity = int(self.v.velocity[token])
        elif t == "Key":
            self.tonic = int(self.codec.key_of[token]) // 2
            if self.options.key_bias > 0:
                self.bias = self._key_bias(token)
        elif t == "Duration" and self.pitch >= 0:
            dur = float(self.v.duration[token]) * self.beat_len
            note = Note(round(self.now, 6), self.pitch, round(dur, 6), self.velocity)
            self.ends.append(note.end)
            self.pitch = -1
        self.last = t  # after a Velocity comes its Duration (the Pitch's velocity is set)
        return note
