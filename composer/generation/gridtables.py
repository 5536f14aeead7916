"""The tables the SATB grid's grammar reads (:class:`~composer.generation.gridstate.GridState`).

:func:`codec_tables` holds a codec's masks and ids (built once per codec, read-only).
:class:`GridTables` holds what the grammar looks up as it runs (a voice's mask by what decides it,
and the parts it is made of): one set per run, shared by its streams, so a batch of pieces fills
each table once, not once per piece.  What a table holds depends on the codec and the options, on
a stream's voice ranges (its key's shift) and, for the bass's offsets, on its key: streams that
agree on those read the same tables.  Every entry is what the stream would have computed itself.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from composer.config import SampleOptions
from composer.keys import SATB_RANGES
from composer.voicegrid import MAX_LEFT, VOICES, VoiceGridCodec

#: Voice ranges in the key written out: the textbook SATB ranges (:data:`composer.keys.SATB_RANGES`),
#: which the analysis checks.  Sampling happens in C major / A minor, so a piece's ranges are moved
#: by its key's shift there.  (Bach's own voices in the corpus, moved to C major / A minor, reach
#: soprano 52-84, alto 48-79, tenor 44-74, bass 31-67: wider, because his keys vary and ours are
#: moved back.)
VOICE_RANGES = tuple(SATB_RANGES[v] for v in "SATB")

# A voice's mask is looked up by one integer (``GridState._voice_mask``): what each voice sounds now and
# sounded a step before, one byte a voice (the pitch + 1, 0 = silent), kept up to date as the voices move;
# the voices up to the one asked about are read by a mask of the bytes.
NOW_BITS = 8 * VOICES
UPTO = [((1 << 8 * (v + 1)) - 1) * (1 | 1 << NOW_BITS) for v in range(VOICES)]  # now and before, voices 0..v
NOW = (1 << NOW_BITS) - 1  # what the voices sound now
NOW_TWICE = 1 | 1 << NOW_BITS  # (packed & NOW) * NOW_TWICE: at the next step, now is also before
ABOVE_BASS = (1 << 8 * (VOICES - 1)) - 1  # what the voices above the bass sound now


def packed_voices(sounding: list[int], before: list[int]) -> int:
    """What each voice sounds now (-1: silent) and sounded a step before, packed: a byte a voice, the pitch + 1."""
    return sum((p + 1) << 8 * v for v, p in enumerate(sounding)) | sum(
        (p + 1) << 8 * v for v, p in enumerate(before)) << NOW_BITS


@dataclass(frozen=True)
class CodecTables:
    """A codec's masks and ids that every stream's grammar reads (built once per codec, read-only)."""

    type: dict[str, np.ndarray]  # kind -> (V,) its tokens
    sounding_ok: np.ndarray  # (V,) a note struck or held, not a rest
    none: np.ndarray  # (V,) no token
    single: dict[int, np.ndarray]  # token id -> (V,) that token alone (filled as asked)
    strike_pc: np.ndarray  # (12, V) per pitch class: its new notes
    sound_pc: np.ndarray  # (12, V) per pitch class: its new or held notes
    not_rest: np.ndarray  # (V,) every token but the rest
    hold: dict[int, int]  # pitch -> its Hold id
    strike: dict[int, int]  # pitch -> its Pitch id
    pos_all: list[int]  # the Pos ids, in order
    pos_value: dict[int, int]  # Pos id -> its grid step in the bar
    left: dict[int, int]  # bars left -> its Left id


def codec_tables(codec: VoiceGridCodec) -> CodecTables:
    """The codec's :class:`CodecTables` (built on first use, then the same object)."""
    cached = _CODEC_TABLES.get(codec)
    if cached is not None:
        return cached
    types = np.array(codec.types)
    kind = {t: types == t for t in set(codec.types)}
    sounding_ok = kind["Pitch"] | kind["Hold"]
    pcs = codec.pitch_of % 12
    lo, hi = codec.spec.pitch_range
    not_rest = np.ones(codec.vocab_size, dtype=bool)
    not_rest[codec.id_of("Rest_None")] = False
    tables = CodecTables(
        type=kind, sounding_ok=sounding_ok, none=np.zeros(codec.vocab_size, dtype=bool), single={},
        strike_pc=np.stack([kind["Pitch"] & (pcs == pc) for pc in range(12)]),
        sound_pc=np.stack([sounding_ok & (pcs == pc) for pc in range(12)]),
        not_rest=not_rest,
        hold={p: codec.id_of(f"Hold_{p}") for p in range(lo, hi + 1)},
        strike={p: codec.id_of(f"Pitch_{p}") for p in range(lo, hi + 1)},
        pos_all=[i for i, t in enumerate(codec.types) if t == "Pos"],
        pos_value=dict(codec.pos_steps),
        left={k: codec.id_of(f"Left_{k}") for k in range(1, MAX_LEFT + 1)})
    for a in (*kind.values(), sounding_ok, tables.none, tables.strike_pc, tables.sound_pc, not_rest):
        a.flags.writeable = False
    _CODEC_TABLES[codec] = tables
    return tables


# One set of tables per live codec (the tables hold no reference back to it).
_CODEC_TABLES: weakref.WeakKeyDictionary[VoiceGridCodec, CodecTables] = weakref.WeakKeyDictionary()


@dataclass
class RangeTables:
    """What depends on the voices' ranges (a key's shift): each voice's range, and the masks made from it."""

    voice_ok: list[np.ndarray]  # per voice: its pitches in range, and the rest (read-only)
    masks: dict[int, np.ndarray] = field(default_factory=dict)  # a voice's mask by what decides it (packed)
    by_rules: dict[tuple[object, ...], np.ndarray] = field(default_factory=dict)  # the same, by what the rules read
    free: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # the range with the hold
    legal: dict[tuple[int, int, int, int], np.ndarray] = field(default_factory=dict)  # free of parallels
    fermata_or: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # id(m) -> (m, m | Fermata)


@dataclass
class KeyTables:
    """What depends on the key: a voice's offsets on a beat, by what the voices above sound and strike."""

    context: dict[int, np.ndarray | None] = field(default_factory=dict)  # by the voices above, packed
    context_pcs: dict[tuple[frozenset[int], int], np.ndarray | None] = field(default_factory=dict)


class GridTables:
    """The tables the grammars of one run's streams look up (one codec, one set of options).

    Parameters
    ----------
    codec : VoiceGridCodec
        The model's codec.
    options : SampleOptions
        The streams' options (a stream with other options may not read these tables).
    """

    def __init__(self, codec: VoiceGridCodec, options: SampleOptions) -> None:
        self.codec, self.options = codec, options
        self.parallel_pcs: dict[tuple[int, int], np.ndarray] = {}  # the notes in parallels, by the last pitch
        self.chords: dict[tuple[int, tuple[int, ...]], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # the motion odds' sums and offsets, the phrase odds' sums (odds.MotionOdds, odds.PhraseOdds)
        self.motion: tuple[dict[Any, Any], dict[Any, Any]] = ({}, {})
        self.phrase: dict[Any, Any] = {}
        self._ranges: dict[int, RangeTables] = {}
        self._keys: dict[int, KeyTables] = {}

    def of_range(self, shift: int) -> RangeTables:
        """The tables of the voice ranges moved by ``shift`` semitones."""
        hit = self._ranges.get(shift)
        if hit is None:
            t = codec_tables(self.codec)
            pitch = self.codec.pitch_of
            ok = [t.type["Pitch"] & (pitch >= lo + shift) & (pitch <= hi + shift) | t.type["Rest"]
                  for lo, hi in VOICE_RANGES]
            for a in ok:
                a.flags.writeable = False
            hit = self._ranges[shift] = RangeTables(ok)
        return hit

    def of_key(self, key: int) -> KeyTables:
        """The tables of the key ``key`` (an index of :data:`composer.keys.KEY_NAMES`; -1: before the Key token)."""
        hit = self._keys.get(key)
        if hit is None:
            hit = self._keys[key] = KeyTables()
        return hit

    def tables(self, shift: int, key: int) -> tuple[dict[Any, Any], ...]:
        """Every table a stream with ``shift`` and ``key`` (-1: none yet) reads: what it empties to forget."""
        r, k = self.of_range(shift), self.of_key(key)
        return (r.masks, r.by_rules, r.free, r.legal, r.fermata_or, self.parallel_pcs, self.chords, k.context,
                k.context_pcs, *self.motion, self.phrase)


__all__ = ["ABOVE_BASS", "NOW", "NOW_BITS", "NOW_TWICE", "UPTO", "VOICE_RANGES", "CodecTables", "GridTables",
           "KeyTables", "RangeTables", "codec_tables", "packed_voices"]
