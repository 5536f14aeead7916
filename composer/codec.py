"""Which token code a tokenizer spec means: MidiTok's (one stream) or the four-voice grid.

Corpora, checkpoints, training and sampling all ask this module for "the codec of this spec"
and get a :class:`~composer.tokenizer.Codec` (REMI, TSD, MIDILike) or a
:class:`~composer.voicegrid.VoiceGridCodec` (SATB); both offer ids, control prefixes, tables
and ``encode_score``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from composer.config import TokenizerSpec
from composer.errors import CheckpointError
from composer.tokenizer import Codec
from composer.voicegrid import KIND as VOICE_KIND
from composer.voicegrid import VoiceGridCodec

AnyCodec = Codec | VoiceGridCodec


def make_codec(spec: TokenizerSpec, styles: Sequence[str] = ()) -> AnyCodec:
    """The codec of ``spec`` (SATB: the voice grid; else MidiTok)."""
    if spec.kind == VOICE_KIND:
        return VoiceGridCodec(spec, styles)
    return Codec(spec, styles)


def codec_from_dict(d: dict[str, Any]) -> AnyCodec:
    """Rebuild a codec saved with ``to_dict``; a bad config or hash mismatch is a ``CheckpointError``."""
    try:
        codec = make_codec(TokenizerSpec.from_dict(d["spec"]), d.get("styles", ()))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"bad tokenizer config: {exc}") from None
    if "hash" in d and d["hash"] != codec.hash:
        raise CheckpointError(f"tokenizer config hash {d['hash']} does not match its contents ({codec.hash})")
    return codec


def is_voice_grid(codec: AnyCodec) -> bool:
    """Whether ``codec`` writes four voices on a grid (SATB)."""
    return isinstance(codec, VoiceGridCodec)
