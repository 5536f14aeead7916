"""Tests of composer.tokenizer: the Codec's vocabulary, controls, transposition and round trips."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from composer.config import TokenizerSpec
from composer.errors import CheckpointError
from composer.events import Note
from composer.keys import KEY_NAMES, parse_key
from composer.midifile import pitched_notes, score_from_notes
from composer.tokenizer import TEMPO_BANDS, Codec, merge_tracks, spec_hash, tempo_band

# On the grid of every tokenizer below (positions in eighths of a beat, short durations).
PHRASE = [
    Note(0.0, 60, 1.0),
    Note(0.0, 64, 1.0),
    Note(0.0, 64, 0.5),  # a unison between two voices is kept
    Note(1.0, 62, 0.5),
    Note(1.5, 65, 0.25),
    Note(1.75, 67, 0.25),
    Note(2.0, 72, 2.0),
    Note(4.0, 55, 3.0),
    Note(4.5, 79, 0.125),
    Note(7.0, 48, 1.0),
]


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(TokenizerSpec(), styles=["bach-chorales", "folk"])


def _pitches(codec: Codec, ids: np.ndarray | list[int]) -> list[int]:
    return [int(codec.pitch_of[i]) for i in ids if codec.pitch_of[i] >= 0]


def _note_set(score) -> Counter:  # type: ignore[no-untyped-def]
    return Counter((n.pitch, n.start, n.duration) for n in pitched_notes(score))


def test_vocabulary_and_controls(codec: Codec) -> None:
    assert codec.vocab_size == codec.base_size + len(codec.controls)
    assert len(codec.controls) == 2 + 24 + len(TEMPO_BANDS)
    assert codec.controls[:2] == ("Style_bach-chorales", "Style_folk")
    assert "Key_F#_minor" in codec.controls and "TempoBand_slow" in codec.controls
    assert len({codec.bos, codec.eos, codec.pad}) == 3
    assert all(i < codec.base_size for i in (codec.bos, codec.eos, codec.pad))
    for i in range(codec.vocab_size):  # ids and token strings are a bijection
        assert codec.id_of(codec.token_of(i)) == i
    assert codec.types[codec.style_id("folk")] == "Style"
    assert codec.values[codec.key_id(parse_key("G minor"))] == "G_minor"
    assert codec.types[codec.id_of("Pitch_60")] == "Pitch"
    assert int(codec.pitch_of[codec.id_of("Pitch_60")]) == 60
    pitches = {int(p) for p in codec.pitch_of[codec.pitch_of >= 0]}
    assert set(range(21, 109)) <= pitches <= set(range(21, 110))  # see test_pitch_range_*
    assert codec.key_of[codec.key_id(7)] == 7 and codec.key_of[codec.bos] == -1
    with pytest.raises(KeyError):
        codec.id_of("Pitch_200")
    with pytest.raises(ValueError, match="unknown style 'jazz'; known: bach-chorales, folk"):
        codec.style_id("jazz")


def test_tempo_bands(codec: Codec) -> None:
    assert [tempo_band(b) for b in (40, 79.9, 80, 120, 120.1, 200)] == [
        "slow",
        "slow",
        "medium",
        "medium",
        "fast",
        "fast",
    ]
    assert codec.token_of(codec.tempo_id(150)) == "TempoBand_fast"


def test_prefix_and_music_ids(codec: Codec) -> None:
    prefix = codec.prefix("folk", parse_key("D minor"), 100.0)
    assert [codec.token_of(i) for i in prefix] == [
        "BOS_None",
        "Style_folk",
        "Key_D_minor",
        "TempoBand_medium",
    ]
    assert codec.prefix(None, None, None) == [codec.bos]
    assert codec.prefix("unknown-style", None, None) == [codec.bos]  # unknown styles are dropped
    music = [codec.id_of("Bar_None"), codec.id_of("Position_0"), codec.id_of("Pitch_60")]
    ids = prefix + music + [codec.pad, codec.eos, codec.id_of("Pitch_70")]
    assert codec.music_ids(ids) == music  # controls and specials out, cut at EOS
    assert codec.music_ids(np.array(ids)) == music


def test_identity_round_trip_and_hash(codec: Codec) -> None:
    again = Codec.from_dict(codec.to_dict())
    assert again.hash == codec.hash and again.vocab_size == codec.vocab_size
    assert again.controls == codec.controls
    assert codec.hash == spec_hash(TokenizerSpec(), ["bach-chorales", "folk"])
    assert codec.hash != Codec(TokenizerSpec(), styles=["folk"]).hash
    assert codec.hash != Codec(TokenizerSpec(kind="TSD"), styles=["bach-chorales", "folk"]).hash
    d = codec.to_dict()
    with pytest.raises(CheckpointError, match="does not match its contents"):
        Codec.from_dict({**d, "hash": "0" * 16})
    with pytest.raises(CheckpointError, match="bad tokenizer config"):
        Codec.from_dict({"styles": []})
    with pytest.raises(CheckpointError, match="bad tokenizer config"):
        Codec.from_dict({"spec": {**d["spec"], "kind": "Octuple"}})


def test_transpose_table_moves_pitches_and_keys(codec: Codec) -> None:
    up = codec.transpose_table(2)
    assert up.shape == (codec.vocab_size,)
    assert codec.token_of(int(up[codec.id_of("Pitch_60")])) == "Pitch_62"
    assert codec.token_of(int(up[codec.key_id(parse_key("C major"))])) == "Key_D_major"
    assert codec.token_of(int(up[codec.key_id(parse_key("B minor"))])) == "Key_C#_minor"
    # pitch_range is inclusive (21..109): 107 + 2 = 109 stays, 108 + 2 = 110 leaves
    assert codec.token_of(int(up[codec.id_of("Pitch_107")])) == "Pitch_109"
    assert up[codec.id_of("Pitch_108")] == -1
    down = codec.transpose_table(-3)
    assert codec.token_of(int(down[codec.key_id(parse_key("C minor"))])) == "Key_A_minor"
    assert down[codec.id_of("Pitch_21")] == -1
    moved = (codec.pitch_of >= 0) | (codec.key_of >= 0)
    others = np.nonzero(~moved)[0]
    assert (up[others] == others).all() and (down[others] == others).all()  # the rest stays
    in_range = np.nonzero((codec.pitch_of >= 21) & (codec.pitch_of <= 109))[0]
    assert (codec.transpose_table(0)[in_range] == in_range).all()
    # Transposing a real sequence and back is the identity.
    ids = codec.encode_score(score_from_notes(PHRASE))
    there = codec.transpose_table(5)[ids]
    assert (there >= 0).all()
    assert _pitches(codec, there) == [p + 5 for p in _pitches(codec, ids)]
    assert (codec.transpose_table(-5)[there] == ids).all()
    keys = np.array([codec.key_id(k) for k in range(24)])
    for k, moved_id in enumerate(codec.transpose_table(12)[keys]):
        assert KEY_NAMES[int(codec.key_of[moved_id])] == KEY_NAMES[k]


@pytest.mark.parametrize("kind", ["REMI", "TSD", "MIDILike"])
def test_encode_decode_round_trip(kind: str) -> None:
    codec = Codec(TokenizerSpec(kind=kind), styles=["x"])
    ids = codec.encode_score(score_from_notes(PHRASE, tempo=80.0))
    assert ids.dtype == np.int32 and ids.ndim == 1 and len(ids) > len(PHRASE)
    assert ids.max() < codec.base_size  # no controls in a corpus sequence
    back = codec.decode(codec.prefix("x", 0, 80.0) + ids.tolist() + [codec.eos])
    assert len(back.tracks) == 1
    assert _note_set(back) == Counter((n.pitch, n.start, n.duration) for n in PHRASE)


def test_encode_merges_tracks_and_drops_drums(midi_factory) -> None:  # type: ignore[no-untyped-def]
    from composer.midifile import load_score

    score = score_from_notes(PHRASE[:5])
    other = score_from_notes(PHRASE[5:], program=40)
    score.tracks.append(other.tracks[0])
    drums = load_score(midi_factory.song("d.mid", [(36, 0.0, 1.0), (38, 1.0, 1.0)], drum=True))
    score.tracks.append(drums.tracks[0])
    merged = merge_tracks(score)
    assert len(merged.tracks) == 1 and not merged.tracks[0].is_drum
    assert len(merged.tracks[0].notes) == len(PHRASE)
    codec = Codec(TokenizerSpec())
    back = codec.decode(codec.encode_score(score))
    assert _note_set(back) == Counter((n.pitch, n.start, n.duration) for n in PHRASE)
    assert len(codec.encode_score(drums)) == 0  # drums only: nothing to tokenize


def test_long_notes_are_clipped_to_the_longest_duration() -> None:
    codec = Codec(TokenizerSpec())  # longest duration token: 12 beats
    back = codec.decode(codec.encode_score(score_from_notes([Note(0.0, 60, 20.0)])))
    assert [(n.pitch, n.start, n.duration) for n in pitched_notes(back)] == [(60, 0.0, 12.0)]


def test_decode_tolerates_garbage(codec: Codec) -> None:
    rng = np.random.default_rng(2026)
    for _ in range(50):
        ids = rng.integers(0, codec.vocab_size, size=int(rng.integers(0, 300)))
        score = codec.decode(ids)  # never raises, whatever the order
        for n in pitched_notes(score):
            assert 21 <= n.pitch < 109 and n.duration > 0 and n.start >= 0
    assert sum(len(t.notes) for t in codec.decode([]).tracks) == 0
    assert sum(len(t.notes) for t in codec.decode(codec.prefix("folk", 3, 60.0)).tracks) == 0
    # Durations before any pitch, pitches without durations: still a score.
    odd = [codec.id_of("Duration_1.0.8"), codec.id_of("Pitch_60"), codec.id_of("Pitch_62")]
    codec.decode(odd * 5)


def test_pitch_range_top_is_consistent() -> None:
    codec = Codec(TokenizerSpec())  # pitch_range (21, 109)
    ids = codec.encode_score(score_from_notes([Note(0.0, 109, 1.0), Note(1.0, 60, 1.0)]))
    # Whichever reading wins, a sequence the codec wrote must survive a 0-semitone transposition.
    assert (codec.transpose_table(0)[ids] == ids).all()


@pytest.mark.parametrize("kind", ["REMI", "TSD", "MIDILike"])
@pytest.mark.parametrize("pitch_range", [(0, 127), (0, 1), (126, 127)])
def test_every_valid_spec_builds_a_codec(kind: str, pitch_range: tuple[int, int]) -> None:
    """The extremes the spec accepts all build a codec (MidiTok does not refuse them later)."""
    lo, hi = pitch_range
    codec = Codec(TokenizerSpec(kind=kind, pitch_range=pitch_range))
    notes = "NoteOn" if kind == "MIDILike" else "Pitch"
    assert sorted(int(v) for t, v in zip(codec.types, codec.values, strict=True) if t == notes) == list(
        range(lo, hi + 1))


@pytest.mark.parametrize("pitch_range", [(0, 128), (-1, 60), (60, 60), (72, 60)])
def test_invalid_pitch_range_is_refused_by_the_spec(pitch_range: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=r"pitch_range must be within 0\.\.127"):
        TokenizerSpec(pitch_range=pitch_range)
