"""MidiTok tokenization plus composer's control tokens.

A :class:`Codec` wraps one MidiTok tokenizer (REMI by default) built from a
:class:`~composer.config.TokenizerSpec`, and appends a few *control tokens* to
its vocabulary: the style (corpus), the key and a tempo band, placed at the
start of every sequence so one model can be asked for "a chorale in G minor".

A sequence reads ``BOS Style_x Key_y Tempo_z <MidiTok tokens...> EOS``.
All tracks of a piece are merged into one stream (the chorales' four voices
become one track), so a model writes all voices at once.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from composer.config import TokenizerSpec
from composer.errors import CheckpointError
from composer.keys import KEY_NAMES, transpose_key_index

if TYPE_CHECKING:
    from miditok import MusicTokenizer
    from symusic import Score

TEMPO_BANDS = ("slow", "medium", "fast")  # < 80, 80-120, > 120 bpm
SPECIAL_TOKENS = ("PAD", "BOS", "EOS")


def tempo_band(bpm: float) -> str:
    """The tempo band name of ``bpm``: slow (< 80), medium (80-120), fast (> 120)."""
    return "slow" if bpm < 80 else "medium" if bpm <= 120 else "fast"


def _time_signature_range() -> dict[int, list[int]]:
    # Every meter met in the chorales, folk tunes and Palestrina, plus common ones.
    return {8: [3, 5, 6, 7, 9, 12], 4: [1, 2, 3, 4, 5, 6, 7], 2: [1, 2, 3, 4, 6, 8]}


def _import_miditok() -> Any:
    """MidiTok, imported without its torch datasets where torch is not loaded yet.

    ``import miditok`` imports ``miditok.pytorch_data`` (where it can), and with it torch: 1.5 s of the folk model's
    live cold start, which samples in numpy.  composer uses none of it, so while torch is not loaded that part is
    left out (miditok skips it on ImportError); it can still be imported later.
    """
    if "miditok" in sys.modules or "torch" in sys.modules:
        import miditok

        return miditok
    sys.modules["miditok.pytorch_data"] = None  # type: ignore[assignment]  # (its import raises ImportError)
    try:
        import miditok
    finally:
        if sys.modules.get("miditok.pytorch_data", 0) is None:
            del sys.modules["miditok.pytorch_data"]
    return miditok


def build_miditok(spec: TokenizerSpec) -> MusicTokenizer:
    """Build the MidiTok tokenizer that ``spec`` describes."""
    miditok = _import_miditok()

    beat_res = {}
    for key, res in spec.beat_res.items():
        lo, hi = (int(x) for x in key.split("_"))
        beat_res[(lo, hi)] = int(res)
    cfg = miditok.TokenizerConfig(
        pitch_range=tuple(spec.pitch_range),
        beat_res=beat_res,
        num_velocities=spec.num_velocities,
        use_velocities=spec.use_velocities,
        special_tokens=list(SPECIAL_TOKENS),
        use_tempos=spec.use_tempos,
        num_tempos=spec.num_tempos,
        tempo_range=(40, 250),
        use_time_signatures=spec.use_time_signatures,
        time_signature_range=_time_signature_range(),
        use_programs=False,
        remove_duplicated_notes=False,  # unisons between voices are kept (chorales)
    )
    cls = {"REMI": miditok.REMI, "TSD": miditok.TSD, "MIDILike": miditok.MIDILike}[spec.kind]
    return cls(cfg)


def int_values(types: Sequence[str], values: Sequence[str], kinds: tuple[str, ...]) -> np.ndarray:
    """(V,) the integer value of each token whose type is one of ``kinds`` (``Pitch_60`` -> 60), -1 elsewhere."""
    out = np.full(len(types), -1, dtype=np.int64)
    for i, (t, v) in enumerate(zip(types, values, strict=True)):
        if t in kinds:
            out[i] = int(v)
    return out


def key_indices(vocab_size: int, key_id: Callable[[int], int]) -> np.ndarray:
    """(V,) the key index (0..23) of each Key control id, -1 elsewhere."""
    out = np.full(vocab_size, -1, dtype=np.int64)
    for k in range(len(KEY_NAMES)):
        out[key_id(k)] = k
    return out


def strip_controls(ids: Sequence[int] | np.ndarray, base_size: int, eos: int, specials: set[int]) -> list[int]:
    """The music of ``ids``: ids below ``base_size`` (controls come after) except ``specials``, cut at EOS."""
    out: list[int] = []
    for i in ids:
        i = int(i)
        if i == eos:
            break
        if i < base_size and i not in specials:
            out.append(i)
    return out


def spec_hash(spec: TokenizerSpec, styles: Sequence[str] = ()) -> str:
    """Short hash of a tokenizer spec and its style list (corpus/checkpoint match check)."""
    blob = json.dumps({"spec": spec.to_dict(), "styles": list(styles)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class Codec:
    """Token ids <-> music, for one tokenizer spec and a list of styles.

    Parameters
    ----------
    spec : TokenizerSpec
        The MidiTok configuration.
    styles : sequence of str
        Style names that get a control token each (corpus names).
    """

    def __init__(self, spec: TokenizerSpec, styles: Sequence[str] = ()) -> None:
        self.spec = spec
        self.styles = tuple(styles)
        self.tok = build_miditok(spec)
        self.base_size = len(self.tok)
        controls = [f"Style_{s}" for s in self.styles]
        controls += [f"Key_{k.replace(' ', '_')}" for k in KEY_NAMES]
        controls += [f"TempoBand_{b}" for b in TEMPO_BANDS]
        self.controls = tuple(controls)
        self.vocab_size = self.base_size + len(self.controls)
        self._transpose_cache: dict[int, np.ndarray] = {}

    # ---- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-native description, enough to rebuild an identical codec."""
        return {"spec": self.spec.to_dict(), "styles": list(self.styles), "hash": self.hash}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Codec:
        """Rebuild a codec saved with :meth:`to_dict`; a hash mismatch is a ``CheckpointError``."""
        try:
            codec = cls(TokenizerSpec.from_dict(d["spec"]), d.get("styles", ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"bad tokenizer config: {exc}") from None
        if "hash" in d and d["hash"] != codec.hash:
            raise CheckpointError(
                f"tokenizer config hash {d['hash']} does not match its contents ({codec.hash})"
            )
        return codec

    @property
    def hash(self) -> str:
        """Hash of spec + styles: equal hashes mean interchangeable token ids."""
        return spec_hash(self.spec, self.styles)

    # ---- ids --------------------------------------------------------------------------------
    def id_of(self, token: str) -> int:
        """Id of a token string (MidiTok's, e.g. ``"Bar_None"``, or a control)."""
        if token in self.controls:
            return self.base_size + self.controls.index(token)
        vocab = self.tok.vocab
        if token not in vocab:
            raise KeyError(token)
        return int(vocab[token])

    def token_of(self, idx: int) -> str:
        """Token string of an id."""
        if idx >= self.base_size:
            return self.controls[idx - self.base_size]
        return str(self.tok[int(idx)])

    @property
    def bos(self) -> int:
        """Beginning-of-sequence id."""
        return self.id_of("BOS_None")

    @property
    def eos(self) -> int:
        """End-of-sequence id."""
        return self.id_of("EOS_None")

    @property
    def pad(self) -> int:
        """Padding id."""
        return self.id_of("PAD_None")

    def style_id(self, style: str) -> int:
        """Control id of a style; ``ValueError`` listing the known styles."""
        name = f"Style_{style}"
        if name not in self.controls:
            raise ValueError(f"unknown style {style!r}; known: {', '.join(self.styles) or 'none'}")
        return self.id_of(name)

    def key_id(self, key_index: int) -> int:
        """Control id of a key (index into :data:`composer.keys.KEY_NAMES`)."""
        return self.id_of(f"Key_{KEY_NAMES[key_index].replace(' ', '_')}")

    def tempo_id(self, bpm: float) -> int:
        """Control id of the tempo band holding ``bpm``."""
        return self.id_of(f"TempoBand_{tempo_band(bpm)}")

    # ---- tables used by sampling and augmentation ---------------------------------------
    @cached_property
    def types(self) -> list[str]:
        """Token type of each id ("Pitch", "Position", ..., "Style", "Key", "TempoBand")."""
        return [self.token_of(i).split("_", 1)[0] for i in range(self.vocab_size)]

    @cached_property
    def values(self) -> list[str]:
        """Token value of each id (the part after the first ``_``)."""
        return [self.token_of(i).split("_", 1)[1] for i in range(self.vocab_size)]

    @cached_property
    def pitch_of(self) -> np.ndarray:
        """(V,) MIDI pitch of each Pitch token id, -1 elsewhere."""
        return int_values(self.types, self.values, ("Pitch",))

    @cached_property
    def key_of(self) -> np.ndarray:
        """(V,) key index of each Key control id, -1 elsewhere."""
        return key_indices(self.vocab_size, self.key_id)

    def transpose_table(self, semitones: int) -> np.ndarray:
        """(V,) id map that transposes a sequence, or ``None`` if a pitch would leave the range.

        Pitch tokens move by ``semitones``; Key controls move their tonic.
        Sequences are transposed with ``table[ids]``; pitches falling out of
        range map to -1, which callers must check for.
        """
        cached = self._transpose_cache.get(semitones)
        if cached is not None:
            return cached
        table = np.arange(self.vocab_size, dtype=np.int64)
        lo, hi = self.spec.pitch_range
        for i in np.nonzero(self.pitch_of >= 0)[0]:
            p = int(self.pitch_of[i]) + semitones
            table[i] = self.id_of(f"Pitch_{p}") if lo <= p <= hi else -1
        for i in np.nonzero(self.key_of >= 0)[0]:
            table[i] = self.key_id(transpose_key_index(int(self.key_of[i]), semitones))
        self._transpose_cache[semitones] = table
        return table

    # ---- music <-> ids -------------------------------------------------------------------
    def encode_score(self, score: Score) -> np.ndarray:
        """MidiTok ids of a score with all pitched tracks merged into one (no controls).

        Returns
        -------
        np.ndarray
            (T,) int32 token ids.
        """
        merged = merge_tracks(score)
        if not merged.tracks or not len(merged.tracks[0].notes):
            return np.zeros(0, dtype=np.int32)
        seq = self.tok.encode(merged)
        if isinstance(seq, list):  # one sequence per track when not one stream
            seq = seq[0]
        return np.asarray(seq.ids, dtype=np.int32)

    def prefix(self, style: str | None, key_index: int | None, bpm: float | None) -> list[int]:
        """The control prefix ``BOS [Style] [Key] [TempoBand]``.

        The one builder of it: training sequences (:func:`composer.dataset.full_sequence`) and
        sampling (:meth:`composer.generation.Sampling.prefix`) both use it, so the model is
        prompted exactly as it was trained.  A style the codec does not know is left out.
        """
        ids = [self.bos]
        if style is not None and f"Style_{style}" in self.controls:
            ids.append(self.style_id(style))
        if key_index is not None:
            ids.append(self.key_id(key_index))
        if bpm is not None:
            ids.append(self.tempo_id(bpm))
        return ids

    def music_ids(self, ids: Sequence[int] | np.ndarray) -> list[int]:
        """The MidiTok ids of ``ids``: controls and special tokens dropped, cut at EOS."""
        return strip_controls(ids, self.base_size, self.eos, {self.bos, self.pad})

    def decode(self, ids: Sequence[int] | np.ndarray) -> Score:
        """A one-track ``symusic.Score`` from ids (controls and specials ignored).

        MidiTok's decoder skips tokens in an invalid order, so any id sequence
        decodes (possibly to fewer notes).
        """
        from miditok import TokSequence

        music = self.music_ids(ids)
        seq = TokSequence(ids=music)
        self.tok.complete_sequence(seq)
        return self.tok.decode([seq])


def merge_tracks(score: Score) -> Score:
    """One-track copy of ``score``: all pitched (non-drum) notes together, program 0."""
    from symusic import Score as SScore
    from symusic import Track

    out = SScore(score.tpq)
    for ts in score.time_signatures:
        out.time_signatures.append(ts)
    for tempo in score.tempos:
        out.tempos.append(tempo)
    track = Track("merged", 0, False)
    for t in score.tracks:
        if t.is_drum:
            continue
        for n in t.notes:
            track.notes.append(n)
    track.notes.sort()
    out.tracks.append(track)
    return out
