"""Sampling four-voice pieces from an SATB grid model (see :mod:`composer.voicegrid`).

:class:`GridState` is the grammar of the grid for :func:`~composer.generation.sampler.sample_streams`:
controls, then per bar ``Bar Left_k``, then per step ``Pos_k [Fermata]`` and one token per voice,
soprano first.  It forces what the caller fixes (the key's mode, the metre, the bars left, a
melody in the soprano) and masks each voice to its range and to holding only the pitch it
sounds.  Pieces are sampled in C major / A minor, as the model was trained, and transposed to the
key asked for; a given melody is transposed the other way first, so it comes out unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np

from composer.config import SampleOptions
from composer.errors import InputError
from composer.events import Note
from composer.generation.grammar import final_onset_by
from composer.generation.odds import fourth_pc_offsets, key_offsets
from composer.generation.setup import GeneratedPiece, Sampling
from composer.generation.sonority import completions, is_open
from composer.keys import KEY_NAMES, SATB_RANGES, find_key, key_name, relative_key
from composer.voicegrid import (
    MAX_LEFT,
    METERS,
    VOICE_NAMES,
    VOICES,
    VoiceGridCodec,
    add_step,
    canonical_key,
    canonical_shift,
    melody_steps,
)

#: Voice ranges in the key written out: the textbook SATB ranges (:data:`composer.keys.SATB_RANGES`),
#: which the analysis checks.  Sampling happens in C major / A minor, so a piece's ranges are moved
#: by its key's shift there.  (Bach's own voices in the corpus, moved to C major / A minor, reach
#: soprano 52-84, alto 48-79, tenor 44-74, bass 31-67: wider, because his keys vary and ours are
#: moved back.)
VOICE_RANGES = tuple(SATB_RANGES[v] for v in "SATB")

#: Keys a piece takes when none is asked (the chorales' common keys), drawn with the run's seed.
DEFAULT_KEYS = ("G major", "C major", "D major", "F major", "A major", "Bb major", "Eb major",
                "A minor", "D minor", "E minor", "G minor", "B minor", "C minor")

def tokens_per_bar(codec: VoiceGridCodec, meter: tuple[int, int]) -> int:
    """The most tokens a bar can take: per step ``Pos``, ``Fermata`` and four voices, plus ``Bar Left``."""
    return round(meter[0] * 4 / meter[1] * codec.grid) * (VOICES + 2) + 2
MELODY = 0  # the soprano


class GridState:
    """Grammar and voices of one SATB stream (the interface :func:`sample_streams` drives).

    Parameters
    ----------
    codec : VoiceGridCodec
        The model's codec.
    options : SampleOptions
        ``key_bias`` penalizes new pitches outside the scale of the mode (C major / A minor).
    bars : int or None
        Bars to write (EOS after the last); ``None`` = endless.
    meter : (int, int)
        The time signature.
    melody : dict, optional
        Grid step -> the soprano token id the step must take (a melody to harmonize).
    shift : int
        Semitones from the key written out to C major / A minor: the voice ranges move with it.
    """

    def __init__(self, codec: VoiceGridCodec, options: SampleOptions, bars: int | None,
                 meter: tuple[int, int] = (4, 4), melody: dict[int, int] | None = None, shift: int = 0) -> None:
        self.codec, self.options, self.target_bars = codec, options, bars
        self.meter = meter
        self.bar_steps = round(meter[0] * 4 / meter[1] * codec.grid)
        self.beat = codec.grid * 3 // 2 if meter[1] == 8 else codec.grid  # steps per beat (x/8: dotted quarters)
        self.melody = melody or {}
        self.forced: dict[str, int] = {}
        self.last = "BOS"
        self.bar = -1
        self.pos = -1
        self.voice = VOICES  # index of the voice whose token comes next; VOICES = frame complete
        self.sounding: list[int] = [-1] * VOICES  # pitch each voice holds, -1 = silent
        self.before: list[int] = [-1] * VOICES  # what each voice sounded at the previous step
        self.silent = 0  # steps every voice has rested since the last that sounded (after the first note)
        self.started = False  # a note has sounded
        self.done = False
        self.bar_is_eos = False
        self.bias: np.ndarray | None = None  # the soft key's offsets (_key), and the context's (_context_bias)
        self._key: np.ndarray | None = None
        self.ids: list[int] = []
        self.voices: list[list[Note]] = [[] for _ in range(VOICES)]  # as sampled so far, if ``track``
        self.track = False  # follow the notes as they are sampled (for :meth:`ready`: live streams)
        self._handed = [0] * VOICES  # notes of each voice already handed out by ready()
        types = np.array(codec.types)
        self._type = {t: types == t for t in set(codec.types)}
        self._sounding_ok = self._type["Pitch"] | self._type["Hold"]  # a note struck or held, not a rest
        self._pitch = codec.pitch_of
        self._kinds, self._pitches = codec.types, codec.pitches
        self._voice_ok = [self._type["Pitch"] & (self._pitch >= lo + shift) & (self._pitch <= hi + shift)
                          | self._type["Rest"] for lo, hi in VOICE_RANGES]
        self._none = np.zeros(codec.vocab_size, dtype=bool)
        self._none.flags.writeable = False
        self._single: dict[int, np.ndarray] = {}
        self._masks: dict[tuple[object, ...], np.ndarray] = {}  # a voice's mask by what decides it
        # per pitch class: its new notes, and its new or held notes (masks looked up, not computed, per token)
        pcs = self._pitch % 12
        self._strike_pc = np.stack([self._type["Pitch"] & (pcs == pc) for pc in range(12)])
        self._sound_pc = np.stack([self._sounding_ok & (pcs == pc) for pc in range(12)])
        # ids looked up once: the grammar runs once per token and stream
        lo, hi = codec.spec.pitch_range
        self._hold = {p: codec.id_of(f"Hold_{p}") for p in range(lo, hi + 1)}
        self._strike = {p: codec.id_of(f"Pitch_{p}") for p in range(lo, hi + 1)}
        self._pos_all = [i for i, t in enumerate(codec.types) if t == "Pos"]
        self._pos = self._pos_all[: self.bar_steps]
        self._left = {k: codec.id_of(f"Left_{k}") for k in range(1, MAX_LEFT + 1)}
        self._bar, self._fermata = codec.id_of("Bar_None"), codec.id_of("Fermata_None")
        self._rest = codec.id_of("Rest_None")
        if not codec.has(f"TimeSig_{meter[0]}/{meter[1]}") or self.bar_steps > len(self._pos_all):
            raise InputError(f"this model writes no {meter[0]}/{meter[1]} bars (it knows {', '.join(METERS)})")
        self._meter = codec.id_of(f"TimeSig_{meter[0]}/{meter[1]}")
        # The ending: in the last bar a fermata chord is held to the end (as Bach's chorales end),
        # at the latest from the half bar (even metres) or the downbeat (odd ones), unless a given
        # melody decides the last bar itself.
        last_bar = ((bars - 1) * self.bar_steps) if bars else None
        self._end_free = last_bar is not None and not any(
            last_bar <= k < last_bar + self.bar_steps for k in self.melody)
        self._end_by = final_onset_by(self.bar_steps, meter[0])
        self.end_step: int | None = None  # grid step of the final fermata chord, once written
        self.mode_minor = False  # the Key token says (A minor, else C major)

    @property
    def repeat_id(self) -> int:
        """The token that strikes again the note the next voice sounds (-1 if none).

        Typed sampling with ``SampleOptions.repeats`` draws it as a kind of its own, like holding
        (:func:`~composer.generation.sampler.sample_streams`).
        """
        if self.options.repeats is None or self.last not in ("Pos", "Fermata", "Voice") or self.voice >= VOICES:
            return -1
        held = self.sounding[self.voice]
        return self._strike[held] if held >= 0 else -1

    @property
    def step(self) -> int:
        """Grid steps from the first bar line to the current step."""
        return max(self.bar, 0) * self.bar_steps + max(self.pos, 0)

    def _only(self, token_id: int) -> np.ndarray:
        """(V,) the one token allowed (shared and read-only: masks are combined, never changed in place)."""
        m = self._single.get(token_id)
        if m is None:
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
        """The soft key's offsets, and at the bass on a beat a fourth pitch class at ``options.four_pcs`` odds."""
        odds = self.options.four_pcs
        if odds is None or self.voice != VOICES - 1 or self.pos % self.beat:
            return self._key
        above = {self.sounding[v] % 12 for v in range(self.voice) if self.sounding[v] >= 0}
        extra = fourth_pc_offsets(self._sounding_ok, self._pitch % 12, above, odds)
        return self._key if extra is None else extra if self._key is None else self._key + extra

    def _voice_mask(self) -> np.ndarray:
        step, voice = self.step, self.voice
        self.bias = self._context_bias()
        if voice == MELODY and step in self.melody:
            return self._only(self.melody[step])
        if self.end_step is not None and step > self.end_step:  # the final chord is held to the end
            held = self.sounding[voice]
            return self._only(self._hold[held] if held >= 0 else self._rest)
        rests, on_beat = self.options.phrase_rests, self.pos % self.beat == 0
        enter = voice == MELODY and rests is not None and self.silent >= rests * self.beat and on_beat
        final = self.end_step is not None and step == self.end_step
        # the rules below see only these (a chord held over 16ths asks the same again): looked up
        key = (voice, tuple(self.sounding[:voice + 1]), tuple(self.before[:voice + 1]), on_beat, enter)
        if not final and (m := self._masks.get(key)) is not None:
            return m
        m = self._voice_ok[voice].copy()
        held = self.sounding[voice]
        if held >= 0:
            m[self._hold[held]] = True
        free = m
        if self.options.no_parallels and (bad := self._parallels(voice)) is not None:
            m = m & ~bad
        if enter and m.sum() > 1:
            m[self._rest] = False  # after a phrase's rest of ``rests`` beats the soprano enters on the beat
        if self.options.full_chords and voice >= 2 and on_beat:
            good, bad = self._open_chord()  # tenor, then bass: the beat's chord gets its third
            m = next((c for c in (m & good, m & ~bad) if c.any()), m)
        if final:  # the final chord: the tonic triad
            choices = self._final_pcs(free)  # by preference; the first that the other rules leave open
            return next((m & c for c in choices if (m & c).any()), choices[-1])
        if len(self._masks) > 50_000:  # an endless stream: start the table afresh
            self._masks.clear()
        m.flags.writeable = False
        self._masks[key] = m
        return m

    def _final_pcs(self, allowed: np.ndarray) -> list[np.ndarray]:
        """(V,) masks of ``allowed``, the notes of the final chord, the preferred first.

        The tonic in the bass, the tonic triad above it (in a minor key also the major third: the
        Picardy third), as Bach ends.

        The chord has its third (an open fifth ended 2 of 12 pieces; Bach ends none so): once the
        upper voices above the tenor have none, the tenor takes it; and one third only (in minor,
        C and C# together would be a cross relation in the last chord).
        """
        notes = allowed & self._sounding_ok
        if self.voice == VOICES - 1:
            return [notes & np.isin(self._pitch % 12, [9] if self.mode_minor else [0])]  # A minor / C major
        thirds = [0, 1] if self.mode_minor else [4]
        above = {self.sounding[v] % 12 for v in range(self.voice) if self.sounding[v] >= 0}
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
        was, was_bass = self.before[self.voice], self.before[VOICES - 1]
        tonic = 9 if self.mode_minor else 0
        if not self.options.no_parallels or was < 0 or was_bass < 0 or was_bass % 12 == tonic:
            return bad  # nothing to avoid, or the bass can hold its tonic (no motion, no parallel)
        gap = (was - was_bass) % 12
        if gap not in (0, 7):
            return bad
        # every tonic the bass can take has the same pitch class: a moving note that keeps the gap
        # to it is a parallel with the bass whichever octave the bass chooses
        return self._type["Pitch"] & (self._pitch != was) & ((self._pitch - tonic) % 12 == gap)

    def _open_chord(self) -> tuple[np.ndarray, np.ndarray]:
        """(V,) choices of the current voice: those that complete the beat's chord, those that leave it open.

        When the voices above sound a bare fifth or octave (``SampleOptions.full_chords``), the
        preferred choices add a third within one triad (else seventh chord), not above the voice
        over it and, for the tenor, within an octave of it (else the spacing faults tripled).
        """
        above = frozenset(self.sounding[v] % 12 for v in range(self.voice) if self.sounding[v] >= 0)
        if not above or not is_open(above):
            return self._none, self._none
        triads, chords, opening = completions(above)
        good = np.asarray(self._sound_pc[list(triads or chords)].any(0))
        over = next(self.sounding[v] for v in range(self.voice - 1, -1, -1) if self.sounding[v] >= 0)
        near = (self._pitch <= over) & ((over - self._pitch <= 12) | (self.voice == VOICES - 1))
        if (good & near).any():
            good = good & near
        bad = np.asarray(self._sound_pc[list(opening)].any(0))
        if self.voice == VOICES - 1:
            bad[self._rest] = True  # the bass resting leaves it open
        return good, bad

    def _parallels(self, voice: int) -> np.ndarray | None:
        """(V,) the new pitches of ``voice`` that move in consecutive fifths or octaves with a voice above.

        Two voices that both move, from a perfect fifth or octave (or unison, compound or not) to the
        same interval again, is the fault :mod:`composer.harmony` counts as parallels; a held or
        repeated note does not move.  ``None`` when there are none.
        """
        was = self.before[voice]
        if was < 0:
            return None
        # the pitch classes a new note must not take: the interval to each moving upper voice kept
        pcs = [(a1 - (a0 - was)) % 12 for a0, a1 in zip(self.before[:voice], self.sounding[:voice], strict=True)
               if a0 >= 0 and a1 >= 0 and a0 != a1 and (a0 - was) % 12 in (0, 7)]
        if not pcs:
            return None
        bad = np.asarray(self._strike_pc[pcs].any(0))
        bad[self._strike[was]] = False  # striking the same note again does not move
        return bad

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
            if self._in_last_bar() and (self.end_step is not None or self.pos >= self._end_by):
                return self._only(self._fermata)
            m = self._voice_mask()
            if not (self.voice == MELODY and self.step in self.melody):
                m = m | self._only(self._fermata)
            return m
        if self.pos + 1 < self.bar_steps:
            return self._only(self._pos[self.pos + 1])
        if self.target_bars is not None and self.bar + 1 >= self.target_bars:
            self.bar_is_eos = True
            return self._only(codec.eos)
        return self._only(self._bar)

    def update(self, token: int) -> Note | None:
        """Advance by one token (notes are read from :attr:`ids` at the end, or by :meth:`ready`)."""
        t = self._kinds[token]
        self.ids.append(token)
        if t in ("Pitch", "Hold", "Rest") and self.voice < VOICES:  # the common case first
            pitch = self._pitches[token]
            if self.track:
                add_step(self.voices[self.voice], t, pitch, self.step, self.codec.grid)
            self.sounding[self.voice] = pitch if t != "Rest" else -1
            self.voice += 1
            self.last = "Voice"
            return None
        if t == "EOS":
            self.done = True
        elif t == "Bar":
            self.bar += 1
            self.pos = -1
        elif t == "Pos":
            self.pos = int(self.codec.values[token])
            self.voice = 0
            self.before = list(self.sounding)
            if any(p >= 0 for p in self.sounding):
                self.started, self.silent = True, 0
            elif self.started:
                self.silent += 1
        elif t == "Fermata" and self.end_step is None and self._in_last_bar():
            self.end_step = self.step
        elif t == "Key":
            self.mode_minor = bool(int(self.codec.key_of[token]) % 2)
            if self.options.key_bias > 0:  # the soft key (:func:`.odds.key_offsets`)
                o, key = self.options, int(self.codec.key_of[token])
                self.bias = self._key = key_offsets(self._type["Pitch"], self._pitch % 12, key, o.key_bias,
                                                    o.raised_penalty, o.seventh_penalty, o.degree_odds)
        if t != "Style":
            self.last = t if t not in ("Pitch", "Hold", "Rest") else "Voice"
        return None

    def ready(self) -> list[Note]:
        """Finished notes that no sounding note starts before, in start order (for live streams: ``track`` on).

        A voice's last note may still grow while the voice sounds, so notes starting after it wait
        until it ends: what is handed out is in non-decreasing start order, as a live player needs.
        """
        growing = [v[-1] for v, pitch in zip(self.voices, self.sounding, strict=True)
                   if v and pitch >= 0 and not self.done]
        horizon = min((n.start for n in growing), default=float("inf"))
        out: list[Note] = []
        for k, voice in enumerate(self.voices):
            done = self._handed[k]
            while done < len(voice) and voice[done].start < horizon - 1e-9:
                out.append(voice[done])
                done += 1
            self._handed[k] = done
        return sorted(out)


def target_key(run: Sampling, options: SampleOptions, index: int) -> int:
    """The key piece ``index`` is written in: the one asked for, else one of :data:`DEFAULT_KEYS`."""
    if options.key_index is not None:
        return options.key_index
    rng = np.random.default_rng([run.seed, index])
    return KEY_NAMES.index(str(rng.choice(DEFAULT_KEYS)))


def sample_satb(
    run: Sampling,
    *,
    n: int,
    bars: int,
    options: SampleOptions,
    meter: tuple[int, int] = (4, 4),
    tempo: float,
    program: int | None = None,
    melody: Sequence[Note] = (),
    melody_key: int | None = None,
) -> list[GeneratedPiece]:
    """Sample ``n`` four-voice pieces of ``bars`` bars, each in its key, as :class:`GeneratedPiece`.

    With ``melody`` (beats from the first bar line, in ``melody_key``), every piece takes it as
    its soprano for the melody's length, unchanged; later bars are free (a continuation).
    """
    codec = run.codec
    if not isinstance(codec, VoiceGridCodec):
        raise InputError("this model writes one stream, not four voices")
    if melody and melody_key is not None:
        # A melody alone hardly tells a major key from its relative minor (G A B C: C major or A minor?):
        # unless a key is asked, candidates alternate between the two and the analysis chooses.
        both = (melody_key, relative_key(melody_key))
        keys = [melody_key if options.key_index is not None else both[i % 2] for i in range(n)]
    else:
        keys = [target_key(run, options, i) for i in range(n)]
    shifts = [canonical_shift(k) for k in keys]  # target key -> C major / A minor
    if melody and len(set(shifts)) > 1:
        raise InputError("a melody is harmonized in one key")
    steps = melody_steps(codec, melody, shifts[0]) if melody else {}
    states: list[GridState] = []

    def make_state() -> GridState:
        st = GridState(codec, replace(options, key=None), bars, meter, steps, shifts[len(states)])
        st.forced = {"Key": codec.key_id(canonical_key(keys[len(states)]))}
        states.append(st)
        return st

    prefix = run.prefix()
    if options.typed is None:  # typed sampling doubled the faults under a given melody (SampleOptions.typed)
        options = replace(options, typed=not melody)
    for _ in run.notes(options, [prefix] * n, bars * tokens_per_bar(codec, meter) + 64, make_state):
        pass
    out = []
    for i, st in enumerate(states):
        piece = codec.decode_piece(st.ids)
        voices = [[replace(nt, pitch=nt.pitch - shifts[i]) for nt in v] for v in piece.voices]
        if melody:
            voices[MELODY] = [replace(nt) for nt in melody] + [nt for nt in voices[MELODY]
                                                                if nt.start >= max(m.end for m in melody) - 1e-9]
        out.append(GeneratedPiece(
            notes=sorted(nt for v in voices for nt in v),
            bars=max(piece.bars, 1),
            time_signature=meter,
            tempo=float(tempo),
            program=run.program(program),
            key=key_name(keys[i]),
            seed=run.seed,
            primer_notes=len(melody),
            meta={"model": run.ckpt.name, "tokens": len(st.ids), "index": i, "fermatas": list(piece.fermatas)},
            voices=voices,
        ))
    return out


def stream_satb(run: Sampling, options: SampleOptions, bars: int | None, key_index: int | None
                ) -> Iterator[Note]:
    """Four voices as one stream of notes in start order (``composer play``); endless when ``bars`` is None."""
    codec = run.codec
    if not isinstance(codec, VoiceGridCodec):
        raise InputError("this model writes one stream, not four voices")
    key = key_index if key_index is not None else target_key(run, options, 0)
    shift = canonical_shift(key)
    st = GridState(codec, replace(options, key=None), bars, shift=shift)
    st.forced, st.track = {"Key": codec.key_id(canonical_key(key))}, True
    limit = 10**12 if bars is None else bars * tokens_per_bar(codec, (4, 4)) + 64
    for _ in run.notes(options, [run.prefix()], limit, lambda: st, reset_every=0 if bars else 4096):
        for note in st.ready():
            yield replace(note, pitch=note.pitch - shift)
    for note in st.ready():
        yield replace(note, pitch=note.pitch - shift)


def melody_key_of(melody: Sequence[Note], options: SampleOptions) -> int:
    """The key a melody is harmonized in: the one asked for, else Krumhansl-Schmuckler's."""
    return options.key_index if options.key_index is not None else find_key(melody)[0]


__all__ = ["VOICE_NAMES", "GridState", "melody_key_of", "melody_steps", "sample_satb", "stream_satb", "target_key"]
