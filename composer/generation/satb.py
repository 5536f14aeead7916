"""Sampling four-voice pieces from an SATB grid model (see :mod:`composer.voicegrid`).

Each stream follows the grid's grammar, :class:`~composer.generation.gridstate.GridState`.  Pieces
are sampled in C major / A minor, as the model was trained, and transposed to the key asked for; a
given melody is transposed the other way first, so it comes out unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from composer.config import SampleOptions
from composer.errors import InputError
from composer.events import Note
from composer.generation.gridstate import MELODY, GridState, GridTables
from composer.generation.sampler import Rows, StreamState
from composer.generation.setup import GeneratedPiece, Sampling
from composer.harmony import cadences_in, piece_from_notes
from composer.keys import KEY_NAMES, find_melody_key, key_name, relative_key, scale_pitch_classes
from composer.voicegrid import (
    VOICE_NAMES,
    VOICES,
    VoiceGridCodec,
    canonical_key,
    canonical_shift,
    fermata_steps,
    melody_steps,
)

#: Whether a whole tune's harmonizing candidates alternate between its key and its relative key, as a
#: primer's do (``sample_satb``'s ``tune``; its key is read with its last note either way,
#: ``keys.MELODY_FINAL_TONIC``).  Off: its candidates all take that key.  Chosen on the 34 validation chorales'
#: whole sopranos, best of 4 (``bench_chorales.py --split valid --harmonize-only --harmonize-whole
#: --harmonize-best-of 4 --tune-relative on|off``): final chord on the tonic triad of music21's key
#: 70.6 -> 91.2 %, music21's key = the chosen one 82.3 -> 100 %, faults 4.89 -> 4.20 per 100 beats,
#: authentic final cadences 30 -> 29 of 34.
TUNE_RELATIVE = False

#: Keys a piece takes when none is asked (the chorales' common keys), drawn with the run's seed.
DEFAULT_KEYS = ("G major", "C major", "D major", "F major", "A major", "Bb major", "Eb major",
                "A minor", "D minor", "E minor", "G minor", "B minor", "C minor")


#: Bars of music before a phrase end that :class:`PhraseChoice` analyses (from a bar line) to find its cadence.
PHRASE_WINDOW_BARS = 3
#: Beats after a bar past a phrase end's onset written (by every stream) before it is judged: the fermata chord held
#: and the next phrase begun, so the analysis reads it as a phrase end inside the piece (its last chord, a bar and
#: more later, is no rival phrase end within a bar of it).
PHRASE_AFTER = 1


class PhraseChoice:
    """Harmonizing several candidates at once: at a melody's phrase ends, those without a cadence take one's.

    ``SampleOptions.phrase_choice``; called as :func:`~.sampler.sample_streams`' ``regroup``.  A phrase end is
    judged once every stream has written a bar and :data:`PHRASE_AFTER` beat past its onset: each stream's last
    :data:`PHRASE_WINDOW_BARS` bars to there are analysed as ``composer analyze`` reads the file
    (:func:`composer.harmony.cadences_in`, the fermata a phrase end, the stream's mode its home key), and a cadence
    within a beat of it counts.
    Where some streams make one and others not, the others take the cadencing streams' pieces so far in turn (each
    then samples on with its own draws); where none or all do, every stream goes on as it is.  Only streams in the
    same key (``groups``) take each other's.  The harmonizations of the 34 validation chorales' whole sopranos (best
    of 4): a cadence at 62.5 -> 93.1 % of the inner phrase ends read so (Bach 94.9 %), 41.2 -> 60.2 % read blind
    (77.3 %) (benchmarks/RESULTS.md, "A cadence at each phrase end").
    """

    def __init__(self, codec: VoiceGridCodec, meter: tuple[int, int], ends: Sequence[float], groups: Sequence[int]):
        self._codec, self._meter, self._groups = codec, meter, list(groups)
        self._ends = sorted(ends)  # fermata onsets (beats from the first bar line)
        self._beat = 1.5 if meter[1] == 8 else 1.0  # a beat, in quarter notes
        self.after = meter[0] * 4 / meter[1] + PHRASE_AFTER * self._beat  # quarter notes written past a phrase end
        self.judged: list[list[bool]] = []  # per phrase end, which streams made a cadence there
        self.states: list[StreamState] | None = None  # the sampler's streams (forks replace the rows that take one)
        self.taken: list[list[int]] = []  # per phrase end where some rows took another's, the row each went on from

    def __call__(self, states: list[StreamState], rows: Rows) -> None:
        self.states = states
        if len(self.judged) >= len(self._ends):
            return
        end = self._ends[len(self.judged)]
        due = round((end + self.after) * self._codec.grid)
        grid = [st for st in states if isinstance(st, GridState)]
        if len(grid) < len(states) or any(not st.done and st.step < due for st in grid):
            return
        made = [self.cadence_at(st, end) for st in grid]
        self.judged.append(made)
        src = list(range(len(states)))
        for g in set(self._groups):
            group = [i for i, k in enumerate(self._groups) if k == g]
            good = [i for i in group if made[i]]
            for turn, i in enumerate(i for i in group if not made[i] and good):
                src[i] = good[turn % len(good)]
        for i, j in enumerate(src):
            if i != j:
                states[i] = grid[j].fork()  # (a source row keeps its own state: it is never a taker)
                rows.take(i, j)
        if src != list(range(len(states))):
            self.taken.append(src)

    def cadence_at(self, st: GridState, end: float) -> bool:
        """Whether the analysis of the stream's last bars, in its mode, finds a cadence within a beat of ``end``."""
        bar = self._meter[0] * 4 / self._meter[1]
        start = max(0.0, (end // bar - PHRASE_WINDOW_BARS) * bar)
        stop = end + self.after  # (notes cut there: the judgement is the stream's own, however far it has gone)
        voices = [[Note(max(n.start - start, 0.0), n.pitch, min(n.end, stop) - max(n.start, start), n.velocity)
                   for n in v if n.end > start + 1e-9 and n.start < stop - 1e-9]
                  for v in self._codec.decode_piece(st.ids).voices]  # (a note held into the window: from its start)
        if not all(voices):
            return False
        piece = piece_from_notes(voices, time_signatures=[(0.0, *self._meter)], fermatas=[end - start])
        found = cadences_in(piece, "A minor" if st.mode_minor else "C major")
        return any(abs(c.offset - (end - start)) <= self._beat for c in found)


REWIND_TRIES = 2  # :class:`PhraseRewind`: rewinds at one phrase end at most
REWIND_BACK = 2  # beats before a phrase end's onset a rewind goes back to


class PhraseRewind:
    """Free pieces: a stream whose own phrase end makes no cadence samples the stretch before it again.

    ``SampleOptions.phrase_rewinds``; called as :func:`~.sampler.sample_streams`' ``regroup``.  Each stream keeps a
    snapshot at every beat (its grammar state, :meth:`~.sampler.Rows.save`); a fermata chord it writes (outside the
    last bar, the ending rule's) is judged as :class:`PhraseChoice` judges a melody's, a bar and a beat later, in
    the stream's mode; without a cadence the stream goes back to :data:`REWIND_BACK` beats before the fermata and
    samples on from there with new draws (at most :data:`REWIND_TRIES` times at one phrase end, ``budget`` times in
    all; then it keeps what it wrote).  Every stream alone: no stream takes another's.
    """

    def __init__(self, codec: VoiceGridCodec, meter: tuple[int, int], bars: int, n: int, budget: int):
        self._judge = PhraseChoice(codec, meter, [], [0] * n)
        self._grid, self._fermata = codec.grid, codec.id_of("Fermata_None")
        self._beat = round(codec.grid * (1.5 if meter[1] == 8 else 1.0))  # steps
        bar = round(meter[0] * 4 / meter[1] * codec.grid)
        self._last_step = (bars - 1) * bar  # the ending's bar: the rule's, not judged
        self._after = round(self._judge.after * codec.grid)
        self._keep = self._after + (REWIND_BACK + 2) * self._beat  # steps of snapshots kept
        self.span_steps = self._keep  # the most steps one rewind samples again
        self.ring: list[list[tuple[int, GridState, Any, int, list[int]]]] = [[] for _ in range(n)]
        self.run_end = [-10] * n  # the last fermata step seen, per row
        self.pending: list[list[int]] = [[] for _ in range(n)]  # fermata onsets (steps) not judged yet
        self.tries: list[dict[int, int]] = [{} for _ in range(n)]
        self.budget = [budget] * n
        self.judged = [0, 0, 0]  # phrase ends judged, with a cadence, rewinds
        self.states: list[StreamState] | None = None

    def __call__(self, states: list[StreamState], rows: Rows) -> None:
        self.states = states
        for i, st in enumerate(states):
            if not isinstance(st, GridState):
                continue
            if not st.done and st.last == "Pos" and st.step % self._beat == 0 and (
                    not self.ring[i] or self.ring[i][-1][0] < st.step):
                self.ring[i].append((st.step, st.fork(), rows.save(i), self.run_end[i], list(self.pending[i])))
                while self.ring[i][0][0] < st.step - self._keep:
                    self.ring[i].pop(0)
            if st.ids and st.ids[-1] == self._fermata and not st.done:
                if st.step > self.run_end[i] + 1 and st.step < self._last_step:
                    self.pending[i].append(st.step)
                self.run_end[i] = st.step
            while self.pending[i] and (st.done or st.step >= self.pending[i][0] + self._after):
                onset = self.pending[i].pop(0)
                ok = self._judge.cadence_at(st, onset / self._grid)
                self.judged[0] += 1
                self.judged[1] += ok
                back = [snap for snap in self.ring[i] if snap[0] <= onset - REWIND_BACK * self._beat]
                if ok or self.budget[i] <= 0 or st.done or not back or (
                        self.tries[i].get(back[-1][0], 0) >= REWIND_TRIES):
                    continue
                step, state, snap, run_end, pending = back[-1]  # (tries counted by the snapshot gone back to)
                fork = state.fork()
                fork.target_bars = st.target_bars  # (the sampler's close-out, if it came since, holds)
                states[i] = fork
                rows.restore(i, snap)
                self.ring[i] = [r for r in self.ring[i] if r[0] <= step]
                self.run_end[i], self.pending[i] = run_end, list(pending)
                self.tries[i][step] = self.tries[i].get(step, 0) + 1
                self.budget[i] -= 1
                self.judged[2] += 1
                break


def tokens_per_bar(codec: VoiceGridCodec, meter: tuple[int, int]) -> int:
    """The most tokens a bar can take: per step ``Pos``, ``Fermata`` and four voices, plus ``Bar Left``."""
    return round(meter[0] * 4 / meter[1] * codec.grid) * (VOICES + 2) + 2


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
    tune: bool = False,
    fermatas: Sequence[float] = (),
) -> list[GeneratedPiece]:
    """Sample ``n`` four-voice pieces of ``bars`` bars, each in its key, as :class:`GeneratedPiece`.

    With ``melody`` (beats from the first bar line, in ``melody_key``), every piece takes it as
    its soprano for the melody's length, unchanged; later bars are free (a continuation).  ``tune``: the
    melody is the whole piece's (harmonized; its key was read with its last note).  ``fermatas``: the
    melody's phrase ends (onsets, beats), each a fermata in the piece (elsewhere under the melody, none).
    """
    codec = run.codec
    if not isinstance(codec, VoiceGridCodec):
        raise InputError("this model writes one stream, not four voices")
    if melody and melody_key is not None:
        # A melody alone hardly tells a major key from its relative minor (G A B C: C major or A minor?):
        # unless a key is asked, candidates alternate between the two and the analysis chooses (a whole tune's
        # key, read with its last note, too unless TUNE_RELATIVE is off).
        both = (melody_key, relative_key(melody_key))
        alternate = options.key_index is None and (TUNE_RELATIVE or not tune) and in_scale(melody, both[1])
        keys = [both[i % 2] if alternate else melody_key for i in range(n)]
    else:
        keys = [target_key(run, options, i) for i in range(n)]
    shifts = [canonical_shift(k) for k in keys]  # target key -> C major / A minor
    if melody and len(set(shifts)) > 1:
        raise InputError("a melody is harmonized in one key")
    steps = melody_steps(codec, melody, shifts[0]) if melody else {}
    within = [t for t in fermatas if melody and melody[0].start - 1e-6 <= t < max(n.end for n in melody) - 1e-6]
    phrase_ends = frozenset(fermata_steps(melody, within, codec.grid))
    states: list[GridState] = []
    stream_options = replace(options, key=None)  # (``typed`` is the loop's, set below; the grammar never reads it)
    tables = GridTables(codec, stream_options)  # looked up by every stream: a batch fills each table once

    def make_state() -> GridState:
        st = GridState(codec, stream_options, bars, meter, steps, shifts[len(states)], tables)
        st.forced = {"Key": codec.key_id(canonical_key(keys[len(states)]))}
        st.phrase_ends = phrase_ends
        states.append(st)
        return st

    prefix = run.prefix()
    rewinds = options.phrase_rewinds
    rewind = PhraseRewind(codec, meter, bars, n, rewinds) if rewinds and not melody and bars else None
    if options.typed is None:  # typed sampling doubled the faults under a given melody (SampleOptions.typed)
        options = replace(options, typed=not melody)
    # the phrase ends judged along the way (a tune's last is its final chord's, chosen with the whole)
    inner = [t for t in within if not tune or t < max(m.start for m in melody) - 1e-6]
    choice = PhraseChoice(codec, meter, inner, keys) if options.phrase_choice and n > 1 and inner else None
    # (the stretches sampled again: from a snapshot to the judging, at most a bar and REWIND_BACK + 2 beats of steps)
    per_step = tokens_per_bar(codec, meter) / (meter[0] * 4 / meter[1] * codec.grid)
    extra = round(rewinds * (rewind.span_steps if rewind else 0) * per_step)
    regroup = choice or rewind
    for _ in run.notes(options, [prefix] * n, bars * tokens_per_bar(codec, meter) + 64 + extra, make_state,
                       regroup=regroup):
        pass
    out = []
    if regroup is not None and regroup.states is not None:  # (rows that took another's piece or went back: forks)
        states = [st for st in regroup.states if isinstance(st, GridState)]
    for i, st in enumerate(states):
        piece = codec.decode_piece(st.ids)
        shift = shifts[i]  # (the notes made anew, not by dataclasses.replace: a tenth of the time)
        voices = [[Note(nt.start, nt.pitch - shift, nt.duration, nt.velocity) for nt in v] for v in piece.voices]
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
            meta={"model": run.ckpt.name, "tokens": len(st.ids), "index": i, "fermatas": list(piece.fermatas),
                  # the melody's phrase ends written as fermata chords (each a run of steps); the fermatas written
                  # to the files (not by records from before phrase_ends: they replay byte for byte)
                  "phrase_ends": sum(1 for k in phrase_ends if k - 1 not in phrase_ends),
                  "write_fermatas": options.phrase_ends},
            voices=voices,
        ))
    return out


def stream_satb(run: Sampling, options: SampleOptions, bars: int | None, key_index: int | None,
                melody: Sequence[Note] = (), meter: tuple[int, int] = (4, 4)) -> Iterator[Note]:
    """Four voices as one stream of notes in start order (``composer play``); endless when ``bars`` is None.

    With a ``melody`` (a primer's, from beat 0) the soprano sings it and the voices go on from the bar line after
    it: only the notes from there are yielded (the primer's own bars are the caller's to play).
    """
    codec = run.codec
    if not isinstance(codec, VoiceGridCodec):
        raise InputError("this model writes one stream, not four voices")
    key = key_index if key_index is not None else target_key(run, options, 0)
    shift = canonical_shift(key)
    steps = melody_steps(codec, melody, shift) if melody else {}
    bar_beats = meter[0] * 4 / meter[1]
    after = math.ceil(max((n.end for n in melody), default=0.0) / bar_beats - 1e-9) * bar_beats
    st = GridState(codec, replace(options, key=None), bars, meter, steps, shift=shift)
    st.forced, st.track = {"Key": codec.key_id(canonical_key(key))}, True
    limit = 10**12 if bars is None else bars * tokens_per_bar(codec, meter) + 64
    handed = [0] * VOICES  # notes of each voice handed out
    for _ in run.notes(options, [run.prefix()], limit, lambda: st, reset_every=0 if bars else 4096):
        for note in ready(st, handed):
            if note.start >= after - 1e-9:
                yield replace(note, pitch=note.pitch - shift)
    for note in ready(st, handed):
        if note.start >= after - 1e-9:
            yield replace(note, pitch=note.pitch - shift)


def ready(st: GridState, handed: list[int]) -> list[Note]:
    """A tracked stream's finished notes that no sounding note starts before, in start order.

    ``handed`` counts each voice's notes handed out so far (updated).  A voice's last note may still
    grow while the voice sounds, so notes starting after it wait until it ends: what is handed out is
    in non-decreasing start order, as a live player needs.
    """
    growing = [v[-1] for v, pitch in zip(st.voices, st.sounding, strict=True) if v and pitch >= 0 and not st.done]
    horizon = min((n.start for n in growing), default=float("inf"))
    out: list[Note] = []
    for k, voice in enumerate(st.voices):
        done = handed[k]
        while done < len(voice) and voice[done].start < horizon - 1e-9:
            out.append(voice[done])
            done += 1
        handed[k] = done
    return sorted(out)


def in_scale(melody: Sequence[Note], key_index: int) -> bool:
    """Whether every note of ``melody`` is in the key's scale (a minor key's three forms together).

    A melody with a note outside a key is not in it (D minor's C sharp is no F major's): its candidates do not take it.
    """
    scale = scale_pitch_classes(key_index, all_minor_forms=True)
    return all(n.pitch % 12 in scale for n in melody)


def melody_key_of(melody: Sequence[Note], options: SampleOptions, ends: bool = False) -> int:
    """The key a melody is harmonized in: the one asked for, else :func:`~composer.keys.find_melody_key`'s.

    ``ends``: the melody ends the piece (it is harmonized, not continued), so its last note counts.
    """
    return options.key_index if options.key_index is not None else find_melody_key(melody, ends=ends)[0]


__all__ = ["VOICE_NAMES", "GridState", "melody_key_of", "melody_steps", "ready", "sample_satb", "stream_satb",
           "target_key"]
