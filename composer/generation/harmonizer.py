"""Harmonizing under a given melody with a one-stream (REMI) model.

:class:`HarmonizeState` adds masks to :class:`~composer.generation.grammar.RemiState` so
the model writes the melody as the top voice and fills the voices beneath:

* a Position may not skip past the next melody onset;
* at a melody onset the melody pitch must be written (pitches above it are
  masked) before the stream may move on, and its Duration is the melody's;
* between onsets, new notes must lie below the sounding melody note, and a
  lower voice's note ends before the melody comes down to its pitch;
* at most ``max_polyphony`` notes sound at once (the caller's default is 4),
  the melody always keeping a voice; the lower voices keep to the key's scale;
* the piece ends with the melody's last bar.

The melody notes in the output are the primer's melody, unchanged: its highest voice when its tracks
are voices, else its top line (where a primer's top note still sounds when the next starts, it is cut
there: see :func:`primer_melody`, :func:`top_line`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from composer.config import SampleOptions
from composer.errors import InputError
from composer.events import Note
from composer.generation.grammar import RemiState
from composer.generation.primer import Primer
from composer.keys import SATB_RANGES, find_melody_key, key_name, pitch_name, scale_pitch_classes
from composer.tokenizer import Codec


def top_line(notes: Sequence[Note], held: bool = True) -> list[Note]:
    """The highest line of a possibly chordal or many-voiced primer (its melody), monophonic.

    At each onset the highest note starting there; with ``held`` (``SampleOptions.held_melody``) only if
    it is not below a melody note still sounding, so a soprano holding over the inner voices' moves stays
    one note (without: every onset took its highest new note, and a held soprano note was cut by a lower
    voice's move).  A melody note still sounding when the next one starts is cut there (a melody holds one
    note at a time); a line that is already monophonic comes back as it is.
    """
    by_onset: dict[float, Note] = {}
    for n in notes:
        cur = by_onset.get(n.start)
        if cur is None or n.pitch > cur.pitch:
            by_onset[n.start] = n
    line: list[Note] = []
    for t in sorted(by_onset):
        n = by_onset[t]
        if held and line and line[-1].end > t + 1e-9 and n.pitch < line[-1].pitch:
            continue  # a lower voice moves under the melody's held note
        line.append(n)
    return [replace(n, duration=round(nxt.start - n.start, 6)) if n.end > nxt.start + 1e-9 else n
            for n, nxt in zip(line, line[1:], strict=False)] + line[-1:]


def primer_melody(primer: Primer, held: bool = True) -> list[Note]:
    """The melody a primer is harmonized under: its highest voice when its tracks are voices, else :func:`top_line`.

    With ``held`` (``SampleOptions.held_melody``) a primer of several tracks whose highest (by mean pitch) is
    monophonic and sounds through at least half the primer gives that track whole (a four-part MIDI file: its
    soprano, crossings and rests as written); any other primer (one track, chords, a typed melody, a high
    track of a few notes) its top line.
    """
    if held and len(primer.tracks) > 1:
        top = max(primer.tracks, key=lambda t: sum(n.pitch for n in t.notes) / max(len(t.notes), 1)).notes
        line = sorted(top)
        span = primer.end - min(n.start for n in primer.notes)
        if line and all(a.end <= b.start + 1e-9 for a, b in zip(line, line[1:], strict=False)) and (
                sum(n.duration for n in line) >= span / 2):
            return line
    return top_line(primer.notes, held)


class HarmonizeState(RemiState):
    """REMI grammar plus the melody constraints above.

    Parameters
    ----------
    codec, options : as for RemiState
    melody : sequence of Note
        A monophonic line (see :func:`top_line`), on a grid the tokenizer can express.
    bars : int
        Bars of the result (the melody's).
    """

    def __init__(self, codec: Codec, options: SampleOptions, melody: Sequence[Note], bars: int) -> None:
        super().__init__(codec, options, bars)
        self.ending = False  # the melody decides how the piece ends
        step = 1.0 / self.v.res  # finest grid in ts-beats; quarter-beats differ per meter
        self.melody = list(melody)
        self._step = step
        self.idx = 0  # next melody note to write
        self.pending = False  # the melody pitch was written; its duration comes next

    def grid(self, beats: float) -> float:
        """``beats`` rounded to the finest grid the tokenizer can write (the melody's onsets are matched on it)."""
        q = self._step * self.beat_len
        return round(beats / q) * q

    def _next_onset(self) -> float | None:
        return self.grid(self.melody[self.idx].start) if self.idx < len(self.melody) else None

    def _sounding(self, t: float) -> Note | None:
        for m in self.melody[: self.idx]:
            if self.grid(m.start) <= t + 1e-9 < self.grid(m.end):
                return m
        return None

    def allowed(self) -> np.ndarray:
        """The parent's mask, narrowed by the melody."""
        m = super().allowed()
        if self.done or self.last in ("BOS", "Style", "Key", "TempoBand"):
            return m
        tm = self.v.type_mask
        codec = self.codec
        pitch = codec.pitch_of
        nxt = self._next_onset()
        if self.pending:  # the melody note's duration
            target = self.melody[self.idx - 1].duration / self.beat_len
            durs = np.where(self.v.duration > 0, np.abs(self.v.duration - target), np.inf)
            out = np.zeros_like(m)
            out[int(np.argmin(durs))] = True
            return out
        at_onset = nxt is not None and self.last in ("Position", "Duration") and abs(self.now - nxt) < 1e-6
        at_onset = at_onset and self.pos >= 0
        if at_onset:  # the melody pitch must come; only lower pitches first
            mel = self.melody[self.idx].pitch
            limit = self.options.max_polyphony
            if limit and self.count_sounding() >= limit - 1:
                only = np.zeros_like(m)  # the last free voice is the melody's
                only[codec.id_of(f"Pitch_{mel}")] = True
                return only
            keep = tm["Pitch"] & (pitch <= mel) & (pitch >= 0)
            m = m & keep
            m[codec.id_of(f"Pitch_{mel}")] = True
            return m
        # Positions may not pass the next onset; a bar line may not skip one.
        times = self.bar_start + np.maximum(self.v.position, 0) / self.v.res * self.beat_len
        if nxt is not None:
            m &= ~tm["Position"] | (times <= nxt + 1e-9)
            if nxt < self.bar_start + self.bar_len - 1e-9:
                m &= ~tm["Bar"]
                if "EOS" in tm:
                    m &= ~tm["EOS"]
        sounding = self._sounding(self.now) if self.pos >= 0 else None
        if sounding is not None:
            m &= ~tm["Pitch"] | (pitch < sounding.pitch)
        if not m.any():  # nothing fits: move time on to the onset
            m = tm["Position"] & (times > self.now + 1e-9) & (times <= (nxt or 1e9) + 1e-9)
            m &= self.v.position < self.ts[0] * self.v.res
            if not m.any():
                m = tm["Bar"].copy()
        return m

    def has_room(self, first: bool = False) -> bool:
        """While the melody rests, the lower voices leave its voice free (at most ``limit - 1``)."""
        ok = super().has_room(first)
        limit = self.options.max_polyphony
        if ok and limit and self.pos >= 0 and self._sounding(self.now) is None:
            ok = self.count_sounding() < limit - 1
        return ok

    def duration_mask(self) -> np.ndarray:
        """A lower voice's note ends before the melody comes down to (or under) its pitch."""
        ok = super().duration_mask()
        if self.pending or self.pitch < 0:
            return ok
        now = self.now
        clash = [self.grid(m.start) for m in self.melody[self.idx :] if m.pitch <= self.pitch]
        clash = [t for t in clash if t > now + 1e-9]
        if clash:
            fits = ok & (self.v.duration * self.beat_len <= min(clash) - now + 1e-9)
            if fits.any():
                return fits
            shortest = np.where(ok, self.v.duration, np.inf)
            ok = np.zeros_like(ok)
            ok[int(np.argmin(shortest))] = True
        return ok

    def update(self, token: int) -> Note | None:
        """Advance; track the melody note written at its onset."""
        t = self.codec.types[token]
        nxt = self._next_onset()
        if t == "Pitch" and nxt is not None and abs(self.now - nxt) < 1e-6 and self.pos >= 0:
            if int(self.codec.pitch_of[token]) == self.melody[self.idx].pitch:
                self.idx += 1
                self.pending = True
        elif t == "Duration":
            self.pending = False
        return super().update(token)


#: A melody harmonized in a key asked for (``--key``) keeps at least this share of its note time in that key's scale
#: (a minor key's natural, harmonic and melodic forms together); below it the voices beneath clash with it.
MELODY_IN_KEY = 0.75


def check_melody(melody: Sequence[Note], key_index: int | None) -> None:
    """Refuse a melody four voices cannot go beneath as its soprano: out of the soprano's range, or not in the key.

    Raises
    ------
    InputError
        Naming the range (most of the melody more than a whole tone outside it) or the key and the share in it.
    """
    if not melody:
        return
    lo, hi = SATB_RANGES["S"]
    middle = sorted(n.pitch for n in melody)[len(melody) // 2]
    if not lo - 2 <= middle <= hi + 2:
        where = "below" if middle < lo else "above"
        raise InputError(f"the melody lies {where} the soprano's range ({pitch_name(lo)}-{pitch_name(hi)}; its middle "
                         f"note {pitch_name(middle)}): write it {'up' if where == 'below' else 'down'} an octave")
    if key_index is None:
        return
    scale = scale_pitch_classes(key_index, all_minor_forms=True)
    total = sum(n.duration for n in melody)
    inside = sum(n.duration for n in melody if n.pitch % 12 in scale)
    if total > 0 and inside < MELODY_IN_KEY * total:
        heard = key_name(find_melody_key(melody)[0])
        raise InputError(f"the melody is not in {key_name(key_index)} ({inside / total:.0%} of it in that key's "
                         f"scale; it reads as {heard}): give its own key, or leave --key out")
