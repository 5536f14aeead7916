"""The grammar of an SATB grid stream (see :mod:`composer.voicegrid`): :class:`GridState`.

What :func:`.sampler.sample_streams` drives for the grid: controls, then per bar ``Bar Left_k``, then per step
``Pos_k [Fermata]`` and one token per voice, soprano first. It forces what the caller fixes (the mode, the metre,
the bars left, a melody in the soprano) and masks each voice to its range and to holding only the pitch it sounds,
then by the voice-leading rules (no parallels, full chords on the beats, the final tonic chord). A voice's mask,
and each part of it, is looked up by what decides it (the Python work per token and stream grows with the batch).
"""

from __future__ import annotations

import copy

import numpy as np

from composer.config import SampleOptions
from composer.errors import InputError
from composer.events import Note
from composer.generation import gridtables as gt
from composer.generation.grammar import final_onset_by
from composer.generation.gridtables import VOICE_RANGES, GridTables, codec_tables
from composer.generation.odds import MotionOdds, PhraseOdds, beat_offsets, key_offsets, onset_offsets
from composer.generation.sonority import completions, is_open
from composer.voicegrid import MAX_LEFT, METERS, VOICES, VoiceGridCodec, add_step, final_melody_onset

MELODY = 0  # the soprano


class GridState:
    """Grammar and voices of one SATB stream (the interface :func:`sample_streams` drives).

    ``codec``: the model's; ``options.key_bias`` penalizes new pitches outside the scale of the mode (C major / A
    minor); ``bars`` to write (EOS after the last; None = endless), in ``meter``; ``melody``: grid step -> the soprano
    token id the step must take (a melody to harmonize); ``shift``: semitones from the key written out to C major / A
    minor (the voice ranges move with it); ``tables``: the tables of masks and offsets looked up, shared by the
    streams of a run (the same codec and options), by default the stream's own.
    """

    def __init__(self, codec: VoiceGridCodec, options: SampleOptions, bars: int | None,
                 meter: tuple[int, int] = (4, 4), melody: dict[int, int] | None = None, shift: int = 0,
                 tables: GridTables | None = None) -> None:
        self.codec, self.options, self.target_bars, self.meter = codec, options, bars, meter
        self.bar_steps = round(meter[0] * 4 / meter[1] * codec.grid)
        self.beat = codec.grid * 3 // 2 if meter[1] == 8 else codec.grid  # steps per beat (x/8: dotted quarters)
        self.melody = melody or {}
        self.forced: dict[str, int] = {}
        self.last, self.bar, self.pos = "BOS", -1, -1
        self.voice = VOICES  # index of the voice whose token comes next; VOICES = frame complete
        self._snd: list[int] = [-1] * VOICES  # pitch each voice holds, -1 = silent (:attr:`sounding`)
        self._bef: list[int] = [-1] * VOICES  # what each voice sounded at the previous step (:attr:`before`)
        self._packed = 0  # both, packed (:func:`.gridtables.packed_voices`): kept up to date with them
        self._struck, self._struck_at = 0, [-9] * VOICES  # pcs struck now (bits); each voice's last strike's step
        self.silent = 0  # steps every voice has rested since the last that sounded (after the first note)
        self.started = False  # a note has sounded
        self.done = False
        self.bar_is_eos = False
        self.bias: np.ndarray | None = None  # the soft key's offsets (_key), and the context's (_context_bias)
        self._key: np.ndarray | None = None
        self.ids: list[int] = []
        self.voices: list[list[Note]] = [[] for _ in range(VOICES)]  # as sampled so far, if ``track``
        self.track = False  # follow the notes as they are sampled (in :attr:`voices`: live streams)
        self.phrase_ends: frozenset[int] = frozenset()  # grid steps under a given melody's fermatas (forced)
        if tables is None:
            tables = GridTables(codec, options)
        elif tables.codec is not codec or tables.options != options:
            raise ValueError("a stream reads the tables of its own codec and options only")
        self._shared, self._shift = tables, shift
        ranges = tables.of_range(shift)
        self._voice_ok = ranges.voice_ok  # each voice's range, and the rest
        # a voice's mask by what decides it, and the parts it is made of, looked up the same way: a voice's
        # range with its hold, the notes in parallels by the voice's last pitch and the pitch classes barred,
        # the chord rule's choices, the bass's offsets by the voices above (by the key: set at the Key token)
        self._masks, self._by_rules, self._free, self._legal, self._fermata_or = (
            ranges.masks, ranges.by_rules, ranges.free, ranges.legal, ranges.fermata_or)
        self._parallel_pcs, self._chords = tables.parallel_pcs, tables.chords
        self._key_index = -1  # (no key yet)
        self._set_key_tables(-1)
        codec_t = codec_tables(codec)  # the codec's own, shared by its streams (read-only)
        self._type, self._sounding_ok = codec_t.type, codec_t.sounding_ok  # (a note struck or held, not a rest)
        self._pitch = codec.pitch_of
        self._kinds, self._pitches = codec.types, codec.pitches
        self._none, self._single = codec_t.none, codec_t.single
        self._strike_pc, self._sound_pc = codec_t.strike_pc, codec_t.sound_pc
        self._hold, self._strike = codec_t.hold, codec_t.strike
        self._pos_all, self._left, self._pos_value = codec_t.pos_all, codec_t.left, codec_t.pos_value
        self._pos = self._pos_all[: self.bar_steps]
        self._bar, self._fermata = codec.id_of("Bar_None"), codec.id_of("Fermata_None")
        self._rest, self._not_rest = codec.id_of("Rest_None"), codec_t.not_rest
        if not codec.has(f"TimeSig_{meter[0]}/{meter[1]}") or self.bar_steps > len(self._pos_all):
            raise InputError(f"this model writes no {meter[0]}/{meter[1]} bars (it knows {', '.join(METERS)})")
        self._meter = codec.id_of(f"TimeSig_{meter[0]}/{meter[1]}")
        # The ending: in the last bar a fermata chord is held to the end (as Bach's chorales end), at the latest from
        # the half bar (even metres) or the downbeat (odd ones). A melody covering the last bar decides it: under its
        # last note (a beat long at least), if a tonic-triad tone (the Key tells), the tonic triad, held; else free
        last_bar = ((bars - 1) * self.bar_steps) if bars else None
        self._end_free = last_bar is not None and not any(
            last_bar <= k < last_bar + self.bar_steps for k in self.melody)
        self._end_by = final_onset_by(self.bar_steps, meter[0])
        self.end_step: int | None = None  # grid step of the final (fermata) chord, once written or known
        self._melody_end = final_melody_onset(codec, self.melody, self.beat) if options.tune_ending and bars else None
        self._melody_end = None if self._end_free else self._melody_end
        # the soprano enters on the beat after this many silent steps (SampleOptions.phrase_rests)
        self._enter_after = None if options.phrase_rests is None else options.phrase_rests * self.beat
        self.mode_minor = False  # the Key token says (A minor, else C major); the voices' melodic motion:
        self._motion = None if (s := options.motion_odds) is None else MotionOdds(  # (with the bass's by degree)
            self._type["Pitch"], self._pitch, s, self.beat * options.motion_beats, tables.motion, options.bass_odds)
        self._phrase = None if (s := options.phrase_odds) is None else PhraseOdds(
            self._fermata, codec.vocab_size, self.beat, s, sums=tables.phrase)

    def fork(self) -> GridState:
        """A copy that samples on alone (its own tokens, voices and odds' state; the tables shared)."""
        new = copy.copy(self)
        new.__dict__.update(ids=list(self.ids), voices=[list(v) for v in self.voices], forced=dict(self.forced),
                            _snd=list(self._snd), _bef=list(self._bef), _struck_at=list(self._struck_at),
                            _phrase=copy.copy(self._phrase), _motion=self._motion and self._motion.fork())
        return new

    @property
    def sounding(self) -> list[int]:
        """The pitch each voice holds, -1 = silent (assign a new list to set it: not changed in place)."""
        return self._snd

    @sounding.setter
    def sounding(self, pitches: list[int]) -> None:
        self._snd = list(pitches)
        self._packed = gt.packed_voices(self._snd, self._bef)

    @property
    def before(self) -> list[int]:
        """What each voice sounded at the previous step (assign a new list to set it)."""
        return self._bef

    @before.setter
    def before(self, pitches: list[int]) -> None:
        self._bef = list(pitches)
        self._packed = gt.packed_voices(self._snd, self._bef)

    def _set_key_tables(self, key: int) -> None:
        kt = self._shared.of_key(key)
        self._context, self._context_pcs = kt.context, kt.context_pcs

    def forget(self) -> None:
        """Empty the tables of masks and offsets looked up (they fill again: no draw changes; shared ones for all)."""
        for table in self._shared.tables(self._shift, self._key_index):
            table.clear()

    @property
    def repeat_id(self) -> int:
        """The token that strikes again the note the next voice sounds (-1 if none); typed ``repeats`` draw it."""
        if self.voice >= VOICES or self.last not in ("Pos", "Fermata", "Voice") or self.options.repeats is None:
            return -1
        return self._strike[held] if (held := self._snd[self.voice]) >= 0 else -1

    @property
    def step(self) -> int:
        """Grid steps from the first bar line to the current step."""
        return max(self.bar, 0) * self.bar_steps + max(self.pos, 0)

    def _only(self, token_id: int) -> np.ndarray:
        """(V,) the one token allowed (shared and read-only: masks are combined, never changed in place)."""
        if (m := self._single.get(token_id)) is None:
            m = self._single[token_id] = self._none.copy()
            m[token_id] = True
            m.flags.writeable = False
        return m

    def _next_control(self) -> np.ndarray:
        codec = self.codec
        if self.last in ("BOS", "Style"):
            if "Key" in self.forced:
                return self._only(self.forced["Key"])
            m = self._none.copy()
            m[[codec.key_id(0), codec.key_id(19)]] = True  # the model knows C major and A minor only
            return m
        return self._only(self._meter)

    def _in_last_bar(self) -> bool:
        return self._end_free and self.target_bars is not None and self.bar == self.target_bars - 1

    def _context_bias(self) -> np.ndarray | None:
        """The soft key's offsets, with a new note's odds between the beats, after a 16th's place and on a beat."""
        v, o, place = self.voice, self.options, self.pos % self.beat
        last = self._struck_at[v] == self.bar * self.bar_steps + self.pos - 1  # (the voice struck at the step before)
        after = last and not place % 2 and self.beat == 4 and o.sixteenth_odds is not None  # (after a 16th's place)
        four = o.four_pcs if v == VOICES - 1 else None
        if place or self.pos < 0:  # between the beats (the table's places: the 16ths of a quarter-note beat)
            if o.onset_odds is None and not after or self.beat != 4 or self.pos < 0:  # (or before the first step)
                return self._key  # the entry: the 16th's place, the 4th's after a note struck at the 3rd or not
            key = -1 - 4 * v - (place - 1 if place < 3 else 3 - last) - 16 * after
        elif not after and (not v or four is None and o.clash_odds is None):  # on a beat: the bass's fourth pc,
            return self._key  # clashes above, a new note after a 16th
        else:  # (one integer: what the voices above sound, with the bass's rule, and strike, with the clashes')
            key = (self._packed & gt.ABOVE_BASS if four else 0) << 13 | after << 12 | (
                0 if o.clash_odds is None else self._struck)
        try:  # looked up: asked on every beat (or step)
            return self._context[key]
        except KeyError:
            pass
        pcs = frozenset(p % 12 for p in self._snd[:v] if p >= 0) if four and not place else frozenset()
        struck = key if place else key & 0x1FFF
        try:
            bias = self._context_pcs[pcs, struck]
        except KeyError:
            strike_ok, sixteenth, entry = self._type["Pitch"], o.sixteenth_odds if after else None, -1 - key - 4 * v
            extra = onset_offsets(strike_ok, v, entry - 16 * after, o.onset_odds or 0.0, sixteenth) if place else (
                beat_offsets(self._sounding_ok, strike_ok, self._pitch % 12, set(pcs), four, key & 0xFFF, o.clash_odds,
                             sixteenth))
            bias = self._key if extra is None else extra if self._key is None else self._key + extra
            if bias is not None and bias is not self._key:
                bias.flags.writeable = False
            self._context_pcs[pcs, struck] = bias
        self._context[key] = bias
        return bias

    def _voice_mask(self) -> np.ndarray:
        voice, pos, end = self.voice, self.pos, self.end_step
        bias = self._context_bias()
        self.bias = bias if self._motion is None else self._motion.bias(voice, bias, pos)
        final = False
        if self.melody or end is not None:  # (the step, once per token and stream: only when it decides)
            step = max(self.bar, 0) * self.bar_steps + max(pos, 0)  # self.step, inlined
            if voice == MELODY and step in self.melody:
                return self._only(self.melody[step])
            if end is not None and step > end:  # the final chord is held to the end (of the melody, if one)
                if self._melody_end is not None and step not in self.melody:
                    return self._only(self._rest)
                held = self._snd[voice]
                return self._only(self._hold[held] if held >= 0 else self._rest)
            final = end is not None and step == end
        on_beat = pos % self.beat == 0
        enter = voice == MELODY and on_beat and self._enter_after is not None and self.silent >= self._enter_after
        # the rules below see only these (a chord held over 16ths asks the same again): looked up
        key = (self._packed & gt.UPTO[voice]) << 4 | voice << 2 | on_beat << 1 | enter  # (one integer: no tuples)
        if not final and (m := self._masks.get(key)) is not None:
            return m
        # what the rules below read of it: the voice's pitch, the pitch classes parallels bar (and the
        # voice's last pitch, if any are), the chord above on a beat; looked up again by these
        bits = self._parallel_bits(voice) if self.options.no_parallels else 0
        chord = self.options.full_chords and voice >= 2 and on_beat
        rule_key = (voice, self._snd[voice], self._bef[voice] if bits else -2, bits, enter,
                    tuple(self._snd[:voice]) if chord else None)
        if not final and (m := self._by_rules.get(rule_key)) is not None:
            self._masks[key] = m
            return m
        m = free = self._free_mask(voice)
        if bits:
            m = self._legal_mask(voice, free, bits)
        if enter and np.count_nonzero(m) > 1:
            m = m & self._not_rest  # after a phrase's rest of ``rests`` beats the soprano enters on the beat
        if chord:
            good, not_bad = self._chord_choices()  # tenor, then bass: the beat's chord gets its third
            # the first choice the other rules leave open (count_nonzero: a C call, .any() is not)
            if np.count_nonzero(c := m & good) or np.count_nonzero(c := m & not_bad):
                m = c
        if final:  # the final chord: the tonic triad
            choices = self._final_pcs(free)  # by preference; the first that the other rules leave open
            return next((m & c for c in choices if (m & c).any()), choices[-1])
        if len(self._masks) > 50_000:  # an endless stream: start the tables afresh
            self.forget()
        m.flags.writeable = False
        self._masks[key] = self._by_rules[rule_key] = m
        return m

    def _legal_mask(self, voice: int, free: np.ndarray, bits: int) -> np.ndarray:
        """(V,) read-only: ``free`` less the new pitches in parallels (``bits``: :meth:`_parallel_bits`)."""
        key = (voice, self._snd[voice], self._bef[voice], bits)
        m = self._legal.get(key)
        if m is None:
            m = free if (bad := self._parallels(voice)) is None else free & ~bad
            m.flags.writeable = False
            self._legal[key] = m
        return m

    def _free_mask(self, voice: int) -> np.ndarray:
        """(V,) read-only: the voice's range, a rest, and holding the pitch it sounds (before the rules)."""
        held = self._snd[voice]
        m = self._free.get((voice, held))
        if m is None:
            m = self._voice_ok[voice].copy()
            if held >= 0:
                m[self._hold[held]] = True
            m.flags.writeable = False
            self._free[voice, held] = m
        return m

    def _final_pcs(self, allowed: np.ndarray) -> list[np.ndarray]:
        """(V,) masks of ``allowed``, the notes of the final chord, the preferred first.

        The tonic in the bass, the tonic triad above it (in minor also the major third: the Picardy third), as
        Bach ends, with its third (an open fifth ended 2 of 12 pieces; Bach ends none so): once the voices above
        the tenor have none, the tenor takes it; one third only (C and C# together: a cross relation).
        """
        notes = allowed & self._sounding_ok
        if self.voice == VOICES - 1:  # A minor / C major; under a tune not above the tenor (a low last note)
            tonic = notes & np.isin(self._pitch % 12, [9] if self.mode_minor else [0])
            low = tonic & (self._pitch <= self._snd[2]) if self._melody_end is not None and self._snd[2] >= 0 else tonic
            return [low, tonic, low] if low is not tonic and low.any() else [tonic]  # (the last: when the rules
            # leave no tonic, parallels with a given melody, the bass stays lowest: a fault, not a crossed voice)
        thirds = [0, 1] if self.mode_minor else [4]
        above = {self._snd[v] % 12 for v in range(self.voice) if self._snd[v] >= 0}
        taken = [t for t in thirds if t in above]
        triad = notes & np.isin(self._pitch % 12, [9, 4] + (taken or thirds) if self.mode_minor else [0, 7, 4])
        choices = [triad]
        if not taken and self.voice == VOICES - 2:  # the tenor: the last voice that can take the third
            choices.insert(0, notes & np.isin(self._pitch % 12, thirds))
        avoid = self._parallel_with_final_bass()
        return [c & ~avoid for c in choices] + choices

    def _parallel_with_final_bass(self) -> np.ndarray:
        """(V,) new pitches of the current upper voice in parallels with the bass whatever tonic it takes.

        The bass comes last and must take the tonic in the final chord, so an upper voice that
        moves in fifths or octaves with every tonic the bass can reach would leave it no way out.
        """
        bad = self._none.copy()
        was, was_bass = self._bef[self.voice], self._bef[VOICES - 1]
        tonic = 9 if self.mode_minor else 0
        if not self.options.no_parallels or was < 0 or was_bass < 0 or was_bass % 12 == tonic:
            return bad  # nothing to avoid, or the bass can hold its tonic (no motion, no parallel)
        gap = (was - was_bass) % 12
        if gap not in (0, 7):
            return bad
        # every tonic the bass can take has the same pitch class: a moving note that keeps the gap
        # to it is a parallel with the bass whichever octave the bass chooses
        return self._type["Pitch"] & (self._pitch != was) & ((self._pitch - tonic) % 12 == gap)

    def _chord_choices(self) -> tuple[np.ndarray, np.ndarray]:
        """(V,) :meth:`_chord_rule`'s choices that complete the chord, and those that do not leave it open."""
        good, _, not_bad = self._chord_rule()
        return good, not_bad

    def _chord_rule(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(V,) choices of the current voice: those that complete the beat's chord, those that leave it open, the rest.

        When the voices above sound a bare fifth or octave (``SampleOptions.full_chords``), the
        preferred choices add a third within one triad (else seventh chord), not above the voice
        over it and, for the tenor, within an octave of it (else the spacing faults tripled).
        """
        key = (self.voice, tuple(self._snd[:self.voice]))  # looked up by what decides it
        hit = self._chords.get(key)
        if hit is None:
            good, bad = self._open_chord_of()
            not_bad = ~bad
            not_bad.flags.writeable = False
            hit = self._chords[key] = (good, bad, not_bad)
        return hit

    def _open_chord_of(self) -> tuple[np.ndarray, np.ndarray]:
        above = frozenset(self._snd[v] % 12 for v in range(self.voice) if self._snd[v] >= 0)
        if not above or not is_open(above):
            return self._none, self._none
        triads, chords, opening = completions(above)
        good = np.asarray(self._sound_pc[list(triads or chords)].any(0))
        over = next(self._snd[v] for v in range(self.voice - 1, -1, -1) if self._snd[v] >= 0)
        near = (self._pitch <= over) & ((over - self._pitch <= 12) | (self.voice == VOICES - 1))
        if (good & near).any():
            good = good & near
        bad = np.asarray(self._sound_pc[list(opening)].any(0))
        if self.voice == VOICES - 1:
            bad[self._rest] = True  # the bass resting leaves it open
        good.flags.writeable = bad.flags.writeable = False
        return good, bad

    def _parallels(self, voice: int) -> np.ndarray | None:
        """(V,) the new pitches of ``voice`` that move in consecutive fifths or octaves with a voice above.

        Two voices that both move, from a perfect fifth or octave (or unison, compound or not) to the
        same interval again, is the fault :mod:`composer.harmony` counts as parallels; a held or
        repeated note does not move.  ``None`` when there are none.
        """
        bits = self._parallel_bits(voice)
        if not bits:
            return None
        was = self._bef[voice]
        bad = self._parallel_pcs.get((was, bits))
        if bad is None:  # looked up: a handful of pitch-class sets per note a voice leaves
            bad = np.asarray(self._strike_pc[[pc for pc in range(12) if bits >> pc & 1]].any(0))
            bad[self._strike[was]] = False  # striking the same note again does not move
            bad.flags.writeable = False
            self._parallel_pcs[was, bits] = bad
        return bad

    def _parallel_bits(self, voice: int) -> int:
        """The pitch classes a new note of ``voice`` must not take, as bits (0: none).

        The interval to each moving upper voice kept, when it was a fifth or an octave (or unison).
        """
        was, bits = self._bef[voice], 0
        if was >= 0:
            before, sounding = self._bef, self._snd
            for v in range(voice):
                a0, a1 = before[v], sounding[v]
                if a0 >= 0 and a1 >= 0 and a0 != a1 and (a0 - was) % 12 in (0, 7):
                    bits |= 1 << ((a1 - a0 + was) % 12)
        return bits

    def allowed(self) -> np.ndarray:
        """(V,) bool: the tokens that may come next."""
        codec, last = self.codec, self.last
        self.bar_is_eos = False
        if last == "Voice" and self.voice < VOICES:  # the common case first: the next voice of a step
            return self._voice_mask()
        if self.done:
            return self._only(codec.eos)
        if last in ("BOS", "Style", "Key"):
            return self._next_control()
        if last == "TimeSig":
            return self._only(self._bar)
        if last == "Bar":
            left = MAX_LEFT if self.target_bars is None else min(self.target_bars - self.bar, MAX_LEFT)
            return self._only(self._left[max(left, 1)])
        if last == "Left":
            return self._only(self._pos[0])
        if last == "Fermata":
            return self._voice_mask()
        if last == "Pos":
            if self._in_last_bar() and (self.end_step is not None or self.pos >= self._end_by) or (
                    self.phrase_ends and self.step in self.phrase_ends):  # (the end; a given melody's phrase end)
                return self._only(self._fermata)
            m = self._voice_mask()
            if not (self.voice == MELODY and self.step in self.melody) and not (  # (no fermata after a tune's end)
                    self._melody_end is not None and self.end_step is not None and self.step > self.end_step):
                hit = self._fermata_or.get(id(m))  # (m itself kept: its id stays its own)
                if hit is None or hit[0] is not m:
                    hit = self._fermata_or[id(m)] = (m, m | self._only(self._fermata))
                    hit[1].flags.writeable = False
                m = hit[1]
                if self._phrase is not None:  # the fermata's odds by the phrase's length
                    self.bias = self._phrase.bias(self.bias, self.step, self.pos)
            return m
        if self.pos + 1 < self.bar_steps:
            return self._only(self._pos[self.pos + 1])
        if self.target_bars is not None and self.bar + 1 >= self.target_bars:
            self.bar_is_eos = True
            return self._only(codec.eos)
        return self._only(self._bar)

    def update(self, token: int) -> Note | None:
        """Advance by one token (notes are read from :attr:`ids` at the end, or by :func:`.satb.ready`)."""
        t = self._kinds[token]
        self.ids.append(token)
        if t in ("Pitch", "Hold", "Rest") and self.voice < VOICES:  # the common case first
            pitch = self._pitches[token]
            if t == "Pitch":
                self._struck |= 1 << pitch % 12
                self._struck_at[self.voice] = self.bar * self.bar_steps + self.pos
                if self._motion is not None:  # (a voice's notes, for its melodic motion)
                    self._motion.struck(self.voice, pitch)
            if self.track:
                add_step(self.voices[self.voice], t, pitch, self.step, self.codec.grid)
            v, pitch = self.voice, -1 if t == "Rest" else pitch
            self._packed += (pitch - self._snd[v]) << 8 * v  # (the byte of voice v: pitch + 1)
            self._snd[v] = pitch
            self.voice += 1
            self.last = "Voice"
            return None
        if t == "EOS":
            self.done = True
        elif t == "Bar":
            self.bar += 1
            self.pos = -1
        elif t == "Pos":
            self.pos = self._pos_value[token]
            self.voice, self._struck = 0, 0
            self._bef = list(self._snd)
            self._packed = (self._packed & gt.NOW) * gt.NOW_TWICE
            if max(self._snd) >= 0:  # a voice sounds (silent: -1)
                self.started, self.silent = True, 0
            elif self.started:
                self.silent += 1
        elif t == "Fermata":
            if self._phrase is not None:
                self._phrase.fermata(self.step)
            if self.end_step is None and self._in_last_bar():
                self.end_step = self.step
        elif t == "Key":
            self.mode_minor = bool(int(self.codec.key_of[token]) % 2)
            if self._motion is not None:
                self._motion.minor = self.mode_minor
            if (end := self._melody_end) is not None and self._pitch[self.melody[end]] % 12 in (
                    (9, 0, 4, 1) if self.mode_minor else (0, 4, 7)):  # its tonic triad's (minor: Picardy too)
                self.end_step = end
            self._key_index = int(self.codec.key_of[token])
            self._set_key_tables(self._key_index)  # the bass's offsets are made with the key's
            if (o := self.options).key_bias > 0:  # the soft key (:func:`.odds.key_offsets`)
                self.bias = self._key = key_offsets(self._type["Pitch"], self._pitch % 12, self._key_index,
                                                    o.key_bias, o.raised_penalty, o.seventh_penalty, o.degree_odds,
                                                    o.motion_degrees)
        if t != "Style":
            self.last = t if t not in ("Pitch", "Hold", "Rest") else "Voice"
        return None


__all__ = ["MELODY", "VOICE_RANGES", "GridState", "GridTables"]
