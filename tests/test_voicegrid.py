"""Tests of the SATB grid code (composer.voicegrid) and of sampling with it (generation.satb)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SATB_SPEC
from symusic import Score

from composer.checkpoint import save_checkpoint
from composer.codec import codec_from_dict, make_codec
from composer.config import SampleOptions, TokenizerSpec
from composer.corpus import _music21_midi
from composer.errors import MidiError
from composer.events import Note
from composer.generation import Primer, harmonize, sample_pieces, stream_notes
from composer.generation.gridstate import GridState
from composer.keys import find_key, parse_key
from composer.midifile import score_from_voices
from composer.model import LSTMModel, ModelConfig
from composer.recipes import load_recipe, piece_refs
from composer.voicegrid import (
    VOICES,
    VoicedPiece,
    VoiceGridCodec,
    canonical_key,
    canonical_shift,
    fermata_steps,
    melody_steps,
    voiced_piece_from_score,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPEC = SATB_SPEC


@pytest.fixture(scope="module")
def codec(satb_codec: VoiceGridCodec) -> VoiceGridCodec:
    return satb_codec


@pytest.fixture(scope="module")
def chorales() -> list[Score]:
    """Three real chorales rendered as the corpus renders them (four tracks, fermata markers)."""
    refs = [r for r in piece_refs(load_recipe("bach-chorales-satb")) if r["path"]][:3]
    return [Score.from_midi(_music21_midi(r)) for r in refs]


def _timing(voices: list[list[Note]]) -> list[list[tuple[float, int, float]]]:
    return [[(n.start, n.pitch, n.duration) for n in v] for v in voices]


def test_canonical_keys() -> None:
    assert canonical_shift(parse_key("G major")) == 5 and canonical_key(parse_key("G major")) == 0
    assert canonical_shift(parse_key("E minor")) == 5 and canonical_key(parse_key("E minor")) == 19
    assert canonical_shift(parse_key("F# major")) == 6 or canonical_shift(parse_key("F# major")) == -6
    for k in range(24):  # every key lands on C major or A minor
        tonic = (k // 2 + canonical_shift(k)) % 12
        assert tonic == (9 if k % 2 else 0) and -6 <= canonical_shift(k) <= 5


def test_real_chorales_round_trip(codec: VoiceGridCodec, chorales: list[Score]) -> None:
    for score in chorales:
        piece = voiced_piece_from_score(score, codec.grid)
        assert len(piece.voices) == VOICES and piece.fermatas  # the chorales' phrase ends survive
        ids = codec.encode(piece)
        back = codec.decode_piece(ids)
        assert _timing(back.voices) == _timing(piece.voices)  # on the 16th grid nothing is lost (but velocity)
        assert back.fermatas == piece.fermatas
        assert back.bars == piece.bars and (back.numerator, back.denominator) == (piece.numerator, piece.denominator)
        tokens = [codec.token_of(i) for i in ids]
        lefts = [int(t.split("_")[1]) for t in tokens if t.startswith("Left_")]
        assert lefts[-3:] == [3, 2, 1] and len(lefts) == piece.bars  # the bars still to come
        assert tokens.count("Bar_None") == piece.bars


def test_encode_score_is_in_c_major_or_a_minor(codec: VoiceGridCodec, chorales: list[Score]) -> None:
    for score in chorales:
        back = codec.decode_piece(codec.encode_score(score))
        key, _ = find_key([n for v in back.voices for n in v])
        assert key in (0, 19)  # C major or A minor


def test_four_voices_needed(codec: VoiceGridCodec) -> None:
    three = score_from_voices([[Note(0, 60, 1)], [Note(0, 55, 1)], [Note(0, 48, 1)]], ["a", "b", "c"])
    with pytest.raises(MidiError, match="3 voices"):
        codec.encode_score(three)


def test_codec_dict_round_trip(codec: VoiceGridCodec) -> None:
    again = codec_from_dict(codec.to_dict())
    assert isinstance(again, VoiceGridCodec) and again.hash == codec.hash and again.tokens == codec.tokens
    assert make_codec(TokenizerSpec()).hash != codec.hash


def test_held_notes_and_rests(codec: VoiceGridCodec) -> None:
    voices = [[Note(0, 72, 2.0), Note(3.0, 71, 1.0)], [Note(0, 67, 4.0)], [Note(0, 64, 1.0), Note(1.0, 64, 1.0)],
              [Note(0, 48, 4.0)]]
    piece = VoicedPiece(voices, 4, 4, (3.0,), 1)
    tokens = [codec.token_of(i) for i in codec.encode(piece)]
    assert tokens[:8] == ["TimeSig_4/4", "Bar_None", "Left_1", "Pos_0", "Pitch_72", "Pitch_67", "Pitch_64", "Pitch_48"]
    assert tokens[8:13] == ["Pos_1", "Hold_72", "Hold_67", "Hold_64", "Hold_48"]
    assert tokens[tokens.index("Pos_4") + 3] == "Pitch_64"  # a repeated note is a new attack, not a hold
    assert tokens[tokens.index("Pos_8") + 1] == "Rest_None"
    assert tokens[tokens.index("Pos_12") + 1] == "Fermata_None"
    assert codec.decode_piece(codec.encode(piece)).voices == voices


@pytest.fixture(scope="module")
def satb_ckpt(codec: VoiceGridCodec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained SATB model: noise, but the grammar must still give four good voices."""
    torch.manual_seed(0)
    model = LSTMModel(ModelConfig(codec.vocab_size, embed_dim=16, hidden_size=32, num_layers=1, dropout=0.0))
    path = tmp_path_factory.mktemp("satb") / "satb" / "model.safetensors"
    save_checkpoint(path, model, codec, {"name": "satb", "corpus": "bach-chorales-satb", "default_tempo": 80.0})
    return path


def _monophonic(voice: list[Note]) -> bool:
    return all(a.end <= b.start + 1e-9 for a, b in zip(voice, voice[1:], strict=False))


def test_sampled_pieces_have_four_voices_in_range_and_the_key(satb_ckpt: Path, tmp_path: Path) -> None:
    pieces = sample_pieces(str(satb_ckpt), n=2, bars=3, options=SampleOptions(seed=4, key="D minor"),
                           quantize=False)
    for p in pieces:
        assert p.voices is not None and len(p.voices) == 4 and p.bars == 3 and p.key == "D minor"
        assert all(_monophonic(v) for v in p.voices)
        assert max(n.end for n in p.notes) <= 12.0 + 1e-9  # three 4/4 bars
        assert sorted(p.notes) == sorted(n for v in p.voices for n in v)
        p.write(tmp_path / f"p{p.meta['index']}.mid")
    score = Score(str(tmp_path / "p0.mid"))
    assert [t.name for t in score.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert [(k.key, k.tonality) for k in score.key_signatures] == [(-1, 1)]  # D minor: one flat
    again = sample_pieces(str(satb_ckpt), n=2, bars=3, options=SampleOptions(seed=4, key="D minor"), quantize=False)
    assert [p.notes for p in again] == [p.notes for p in pieces]  # same seed, same music


@pytest.mark.parametrize(("key", "tonic", "triad", "thirds"),
                         [("D minor", 2, {2, 5, 6, 9}, {5, 6}), ("Bb major", 10, {10, 2, 5}, {2})])
def test_pieces_end_on_the_tonic_held_to_the_end(satb_ckpt: Path, key: str, tonic: int, triad: set[int],
                                                 thirds: set[int]) -> None:
    """Even an untrained model ends on the tonic triad (tonic in the bass) from the half bar at the
    latest, every voice sounding and held to the end of the last bar, as Bach's chorales end: with
    its third (no open fifth), one third only (no F and F# together in D minor)."""
    for p in sample_pieces(str(satb_ckpt), n=12, bars=3, options=SampleOptions(seed=8, key=key), quantize=False):
        assert p.voices is not None
        last = max(n.start for n in p.notes)
        assert last <= 10.0 + 1e-9  # bar 3 starts at 8; its half bar is at 10
        final = [v[-1] for v in p.voices]
        assert all(n.end == pytest.approx(12.0) for n in final) and all(n.start <= last for n in final)
        assert final[3].pitch % 12 == tonic and {n.pitch % 12 for n in final} <= triad
        assert len({n.pitch % 12 for n in final} & thirds) == 1


def test_a_melody_in_the_last_bar_decides_the_ending(satb_ckpt: Path) -> None:
    melody = [Note(0, 67, 1), Note(1, 69, 1), Note(2, 71, 1), Note(3, 72, 0.5), Note(3.5, 74, 0.5)]
    piece = harmonize(Primer(melody), str(satb_ckpt), options=SampleOptions(seed=2), quantize=False)
    assert piece.voices is not None and piece.voices[0] == melody  # moving to the end: no held chord forced


def test_harmonize_keeps_the_melody_as_soprano(satb_ckpt: Path) -> None:
    melody = [Note(0, 67, 1), Note(1, 67, 1), Note(2, 69, 1), Note(3, 71, 1), Note(4, 72, 2), Note(6, 71, 2)]
    primer = Primer(melody)
    piece = harmonize(primer, str(satb_ckpt), options=SampleOptions(seed=2), quantize=False)
    assert piece.voices is not None and piece.voices[0] == melody
    assert piece.bars == 2 and piece.key == "G major"
    assert all(_monophonic(v) for v in piece.voices)


def test_continuation_keeps_the_primer_then_goes_on(satb_ckpt: Path) -> None:
    melody = [Note(0, 72, 1), Note(1, 74, 1), Note(2, 76, 2)]
    piece = sample_pieces(str(satb_ckpt), n=1, bars=3, options=SampleOptions(seed=3), primer=Primer(melody),
                          quantize=False)[0]
    assert piece.voices is not None and piece.voices[0][:3] == melody and piece.bars == 3
    assert any(n.start >= 4.0 for n in piece.voices[0])  # the soprano goes on after the primer


def test_stream_is_in_start_order(satb_ckpt: Path) -> None:
    notes = list(stream_notes(str(satb_ckpt), SampleOptions(seed=5, key="C major"), bars=2, quantize=False))
    starts = [n.start for n in notes]
    assert notes and starts == sorted(starts) and max(n.end for n in notes) <= 8.0 + 1e-9
    assert np.all(np.diff(starts) >= 0)


def _steps(voices: list[list[Note]], grid: int = 4) -> list[list[int]]:
    end = round(max(n.end for v in voices for n in v) * grid)
    out = [[-1] * len(voices) for _ in range(end)]
    for k, v in enumerate(voices):
        for n in v:
            for s in range(round(n.start * grid), round(n.end * grid)):
                out[s][k] = n.pitch
    return out


def _parallels(voices: list[list[Note]]) -> int:
    """Consecutive fifths/octaves between two voices that both move from one grid step to the next."""
    steps, count = _steps(voices), 0
    for prev, now in zip(steps, steps[1:], strict=False):
        for i in range(4):
            for j in range(i + 1, 4):
                if min(prev[i], prev[j], now[i], now[j]) < 0 or prev[i] == now[i] or prev[j] == now[j]:
                    continue
                gap = (prev[i] - prev[j]) % 12
                count += gap in (0, 7) and (now[i] - now[j]) % 12 == gap
    return count


def _rule_on_and_off(satb_ckpt: Path, option: str, faults: Callable[[list[list[Note]]], int]) -> None:
    """A sampler rule (a bool option, on by default): no fault with it, some without (the untrained
    model writes them when allowed).  The rule alone: without the motion odds, which reshape the draws
    (with them the untrained model at seed 6 writes no open beat in 4 pieces without the rule, 2 in 8 with it)."""
    assert getattr(SampleOptions(), option)  # on by default
    on = sample_pieces(str(satb_ckpt), n=4, bars=4, options=SampleOptions(seed=6, motion_odds=None), quantize=False)
    off = sample_pieces(str(satb_ckpt), n=4, bars=4, options=SampleOptions(seed=6, motion_odds=None, **{option: False}),
                        quantize=False)
    assert sum(faults(p.voices or []) for p in on) == 0
    assert sum(faults(p.voices or []) for p in off) > 0


def test_no_parallels_rule(satb_ckpt: Path) -> None:
    _rule_on_and_off(satb_ckpt, "no_parallels", _parallels)


def test_unknown_metre_is_an_input_error(satb_ckpt: Path) -> None:
    from composer.errors import InputError

    primer = Primer([Note(0, 72, 1.0)], time_signature=(7, 8))
    with pytest.raises(InputError, match="7/8"):
        sample_pieces(str(satb_ckpt), n=1, bars=2, options=SampleOptions(seed=1), primer=primer, quantize=False)


def test_continue_notes_answers_after_the_phrase(satb_ckpt: Path) -> None:
    from composer.generation import continue_notes

    phrase = [Note(0, 72, 1), Note(1, 74, 1), Note(2, 76, 1), Note(3, 77, 1)]
    answer = continue_notes(phrase, 1, str(satb_ckpt), SampleOptions(seed=2))
    assert answer and min(n.start for n in answer) >= 4.0 and max(n.end for n in answer) <= 8.0 + 1e-9


def test_long_bars_are_not_cut(satb_ckpt: Path) -> None:
    """A 3/2 bar is 24 steps: the token budget follows the metre, so every bar asked for is written."""
    melody = [Note(0, 72, 2.0), Note(2, 74, 2.0), Note(4, 76, 2.0)]
    piece = sample_pieces(str(satb_ckpt), n=1, bars=3, options=SampleOptions(seed=1),
                          primer=Primer(melody, time_signature=(3, 2)), quantize=False)[0]
    assert piece.bars == 3 and piece.time_signature == (3, 2) and max(n.end for n in piece.notes) > 12.0


@pytest.mark.slow
def test_typed_sampling_is_on_for_free_pieces_and_off_under_a_melody(satb_ckpt: Path) -> None:
    def free(typed: bool | None) -> list[list[Note]]:
        return [p.notes for p in sample_pieces(str(satb_ckpt), n=3, bars=2, options=SampleOptions(seed=5, typed=typed),
                                                quantize=False)]

    assert free(None) == free(True) != free(False)
    melody = Primer([Note(0, 72, 1), Note(1, 74, 1), Note(2, 76, 2), Note(4, 74, 2), Note(6, 72, 2)])

    def under(typed: bool | None) -> list[Note]:
        return harmonize(melody, str(satb_ckpt), options=SampleOptions(seed=5, typed=typed), quantize=False).notes

    assert under(None) == under(False) != under(True)


def _open_beats(voices: list[list[Note]]) -> int:
    """Quarter-note beats where two voices or more sound one pitch class, or two a fourth / fifth apart."""
    notes = [n for v in voices for n in v]
    end = int(max(n.end for n in notes))
    count = 0
    for t in range(end):
        sounding = [n for n in notes if n.start <= t + 1e-9 < n.end - 1e-9]
        pcs = {n.pitch % 12 for n in sounding}
        count += len(sounding) >= 2 and (len(pcs) == 1 or (len(pcs) == 2 and (max(pcs) - min(pcs)) in (5, 7)))
    return count


def test_full_chords_rule(satb_ckpt: Path) -> None:
    """On a beat the tenor (then the bass) completes a bare fifth or octave above it with a third."""
    _rule_on_and_off(satb_ckpt, "full_chords", _open_beats)


def test_repeat_id_is_the_strike_of_the_sounding_pitch() -> None:
    """Typed sampling's repeat kind: the Pitch token of the note the next voice sounds, else -1."""
    from composer.generation.satb import GridState
    from composer.voicegrid import VoiceGridCodec

    codec = VoiceGridCodec(SPEC)
    st = GridState(codec, SampleOptions(), bars=4)
    st.sounding, st.voice, st.last = [72, -1, 64, 48], 0, "Pos"
    assert st.repeat_id == codec.id_of("Pitch_72")
    st.voice = 1
    assert st.repeat_id == -1  # the alto is silent: nothing to repeat
    st.voice, st.last = 4, "Voice"
    assert st.repeat_id == -1  # the frame is complete
    st.voice, st.last = 0, "Pos"
    assert GridState(codec, SampleOptions(repeats=None), bars=4).repeat_id == -1
    st_off = GridState(codec, SampleOptions(repeats=None), bars=4)
    st_off.sounding, st_off.voice, st_off.last = [72, -1, 64, 48], 0, "Pos"
    assert st_off.repeat_id == -1  # repeats=None: a pitch like any other


def test_repeats_option_changes_the_draws(satb_ckpt: Path) -> None:
    def notes(repeats: float | None) -> list[tuple[float, int]]:
        pieces = sample_pieces(str(satb_ckpt), n=2, bars=4, options=SampleOptions(seed=5, repeats=repeats),
                               quantize=False)
        return [(n.start, n.pitch) for p in pieces for n in p.notes]

    assert notes(0.75) == notes(0.75) and notes(0.75) != notes(None)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="repeats"):
            SampleOptions(repeats=bad)
    with pytest.raises(ValueError, match="raised_penalty"):
        SampleOptions(raised_penalty=-0.5)


def test_full_chords_prefers_the_triads_third_near_the_voice_above() -> None:
    from composer.generation.satb import GridState
    from composer.voicegrid import VoiceGridCodec

    codec = VoiceGridCodec(SPEC)
    st = GridState(codec, SampleOptions(), bars=4)
    st.sounding, st.voice, st.pos = [72, 67, -1, -1], 2, 0  # soprano C5, alto G4: a bare fifth on the beat
    good, bad, _ = st._chord_rule()
    assert sorted(int(codec.pitch_of[i]) for i in np.flatnonzero(good)) == [63, 63, 64, 64]  # Eb4 / E4 (struck or held)
    assert {int(codec.pitch_of[i]) % 12 for i in np.flatnonzero(bad)} == {0, 7}
    st.sounding = [72, 64, -1, -1]  # C and E: a third is there, nothing to prefer
    assert not any(a.any() for a in st._chord_rule()[:2])


def test_phrase_rests_rule() -> None:
    """After a beat with every voice resting (mid-piece), the soprano enters on the next beat."""
    from composer.generation.satb import GridState
    from composer.voicegrid import VoiceGridCodec

    codec = VoiceGridCodec(SPEC)
    assert SampleOptions().phrase_rests == 1
    rest, pos = codec.id_of("Rest_None"), [codec.id_of(f"Pos_{k}") for k in range(16)]

    def soprano_may_rest(options: SampleOptions, silent_steps: int) -> bool:
        st = GridState(codec, options, bars=4)
        st.sounding = [72, 67, 64, 48]  # a chord sounds, then every voice rests
        for k in range(silent_steps + 1):
            st.update(pos[k])
            if k < silent_steps:
                for _ in range(4):
                    st.update(rest)
        return bool(st._voice_mask()[rest])

    assert soprano_may_rest(SampleOptions(), 3)  # within the beat: the rest may go on
    assert not soprano_may_rest(SampleOptions(), 4)  # a beat of silence: the soprano enters on the beat
    assert soprano_may_rest(SampleOptions(phrase_rests=None), 12)  # off: as long as the model likes
    assert soprano_may_rest(SampleOptions(phrase_rests=2), 4) and not soprano_may_rest(SampleOptions(phrase_rests=2), 8)
    for bad in (0, -1, 1.5, True):  # 0 would forbid the soprano any rest on a beat
        with pytest.raises(ValueError, match="phrase_rests"):
            SampleOptions(phrase_rests=bad)


def test_voice_masks_looked_up_are_the_masks_computed(satb_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tables of voice masks (a held chord asks the same again) change no draw: pieces sampled with
    the tables emptied before every lookup are the same notes."""
    from composer.generation import satb

    opts = SampleOptions(seed=8, key="E minor")
    compute = satb.GridState._voice_mask
    hits: list[bool] = []

    def counted(self: satb.GridState) -> np.ndarray:
        before = len(self._masks)
        m = compute(self)
        hits.append(len(self._masks) == before and any(m is v for v in self._masks.values()))
        return m

    monkeypatch.setattr(satb.GridState, "_voice_mask", counted)
    table = sample_pieces(str(satb_ckpt), n=3, bars=4, options=opts, quantize=False)
    assert sum(hits) > 20  # the table answered questions (the untrained model seldom holds a chord)

    def fresh(self: satb.GridState) -> np.ndarray:
        self.forget()  # every table: the masks, and the parts and offsets they are made of
        return compute(self)

    monkeypatch.setattr(satb.GridState, "_voice_mask", fresh)
    fresh_pieces = sample_pieces(str(satb_ckpt), n=3, bars=4, options=opts, quantize=False)
    assert [p.notes for p in fresh_pieces] == [p.notes for p in table]


def test_streams_of_a_run_share_their_tables(codec: VoiceGridCodec, satb_ckpt: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The streams of one run read one set of tables (by the voices' ranges, and by the key for the bass's
    offsets) and draw the same notes as streams with tables of their own; other options may not read them."""
    from composer.generation import satb
    from composer.generation.gridstate import GridState, GridTables

    opts = SampleOptions()
    tables = GridTables(codec, opts)
    a, b, c = (GridState(codec, opts, 4, shift=s, tables=tables) for s in (0, 0, 2))
    assert a._masks is b._masks and a._masks is not c._masks and a._chords is c._chords
    assert a._voice_ok is b._voice_ok and not np.array_equal(a._voice_ok[0], c._voice_ok[0])
    major, minor = codec.key_id(0), codec.key_id(19)
    a.update(major), b.update(minor), c.update(major)
    assert a._context is c._context and a._context is not b._context
    assert a._motion is not None and c._motion is not None and a._motion._sums is c._motion._sums
    assert a._phrase is not None and b._phrase is not None and a._phrase._sums is b._phrase._sums
    with pytest.raises(ValueError, match="options"):
        GridState(codec, SampleOptions(full_chords=False), 4, tables=tables)

    runs = [SampleOptions(seed=5, key=None), SampleOptions(seed=5, key=None, clash_odds=0.3)]
    shared = [sample_pieces(str(satb_ckpt), n=6, bars=4, options=o, quantize=False) for o in runs]
    made = satb.GridState

    def alone(*args: object, **kwargs: object) -> GridState:
        return made(*args[:6], **kwargs)  # type: ignore[arg-type]  # (no tables: the stream's own)

    monkeypatch.setattr(satb, "GridState", alone)
    own = [sample_pieces(str(satb_ckpt), n=6, bars=4, options=o, quantize=False) for o in runs]
    assert [[p.notes for p in r] for r in own] == [[p.notes for p in r] for r in shared]
    assert len({p.key for p in shared[0]}) > 1  # streams in other keys (other ranges) in one run
    assert [p.notes for p in shared[0]] != [p.notes for p in shared[1]]  # the clash odds change draws


@pytest.mark.parametrize("grid", [3, 4, 12])
def test_decoding_ties_notes_as_the_stream_does(grid: int) -> None:
    """A piece decoded from its ids and the same ids followed step by step (``add_step``, as ``play``
    does) give the same notes, also on grids that are not a power of two (no drift: a note held eight
    beats is one note of eight beats)."""
    from composer.voicegrid import add_step

    c = make_codec(TokenizerSpec(kind="SATB", beat_res={"0_4": grid}, pitch_range=(28, 96)),
                   styles=["bach-chorales-satb"])
    assert isinstance(c, VoiceGridCodec)
    voices = [[Note(0, 72, 8.0)], [Note(0, 67, 4.0), Note(4.0, 67, 4.0)], [Note(0, 64, 2.0), Note(3.0, 62, 5.0)],
              [Note(0, 48, 1.0), Note(1.0, 50, 7.0)]]
    ids = c.encode(VoicedPiece(voices, 4, 4, (), 2))
    decoded = c.decode_piece(ids).voices
    assert decoded == voices
    followed: list[list[Note]] = [[] for _ in range(4)]
    step, voice = -1, 0
    for i in ids:
        kind = c.types[int(i)]
        if kind == "Pos":
            step, voice = step + 1, 0
        elif kind in ("Pitch", "Hold", "Rest"):
            add_step(followed[voice], kind, int(c.pitch_of[int(i)]), step, grid)
            voice += 1
    assert followed == decoded




def test_fermata_onsets_are_the_soprano_notes_they_fall_in() -> None:
    """``_first_onsets`` (one pass over the soprano) gives what a search of every note for each fermata gives."""
    from composer.voicegrid import _first_onsets

    rng = np.random.default_rng(4)
    for _ in range(200):
        at, soprano = 0, []
        for _ in range(int(rng.integers(0, 12))):
            at += int(rng.integers(0, 3))  # gaps (rests) or none
            length = int(rng.integers(1, 5))
            soprano.append(Note(at / 4, 72, length / 4))
            at += length
        fermatas = sorted({float(x) / 4 for x in rng.integers(0, at + 3, size=int(rng.integers(0, 6)))})
        searched: list[float] = []
        for t in fermatas:
            onset = next((n.start for n in soprano if n.start - 1e-6 <= t < n.end - 1e-6), t)
            if not searched or abs(searched[-1] - onset) > 1e-6:
                searched.append(onset)
        assert _first_onsets(fermatas, [soprano, [], [], []]) == tuple(searched)


def test_voice_mask_key_follows_the_voices(satb_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A voice's mask is looked up by one integer packing what the voices sound now and sounded a step before
    (a byte each: the pitch + 1): it is kept up to date by every token and by setting ``sounding``/``before``."""
    from composer.generation import satb

    def packed(st: satb.GridState) -> int:
        now = sum((p + 1) << 8 * v for v, p in enumerate(st.sounding))
        return now | sum((p + 1) << 8 * v for v, p in enumerate(st.before)) << 8 * VOICES

    update = satb.GridState.update
    checked: list[int] = []

    def checked_update(self: satb.GridState, token: int) -> Note | None:
        out = update(self, token)
        assert self._packed == packed(self)
        checked.append(token)
        return out

    monkeypatch.setattr(satb.GridState, "update", checked_update)
    sample_pieces(str(satb_ckpt), n=2, bars=2, options=SampleOptions(seed=3), quantize=False)
    assert len(checked) > 100
    codec, opts = VoiceGridCodec(SPEC), SampleOptions()
    tables = satb.GridTables(codec, opts)
    states = [satb.GridState(codec, opts, bars=4, tables=tables) for _ in range(3)]
    states[0].sounding, states[0].before = [72, 67, -1, 48], [72, 65, 60, -1]
    assert states[0]._packed == packed(states[0]) and states[0].sounding == [72, 67, -1, 48]
    states[1].sounding, states[1].before = [72, 65, -1, 48], [72, 65, 60, -1]  # the alto differs: another key
    states[2].sounding, states[2].before = [72, 67, -1, 36], [72, 65, 60, 43]  # the bass differs: the tenor's same
    for s in states:
        s.voice, s.pos, s.last = 2, 1, "Voice"
    masks = [s.allowed() for s in states]
    assert len(tables.of_range(0).masks) == 2 and masks[2] is masks[0]  # two keys asked; the third a hit


@pytest.mark.parametrize(("key", "last", "triad"), [("C major", 60, {0, 4, 7}), ("A minor", 64, {9, 0, 4, 1})])
def test_a_tune_ending_on_its_tonic_triad_ends_on_the_chord(satb_ckpt: Path, key: str, last: int,
                                                             triad: set[int]) -> None:
    tonic = 0 if key == "C major" else 9
    melody = [Note(0, 72, 1), Note(1, 71, 1), Note(2, 69, 1), Note(3, 67, 1), Note(4, 65, 1), Note(5, 64, 1),
              Note(6, 62, 1), Note(7, 64, 1), Note(8, last, 3)]  # the last note three beats, in bar 3
    for seed in range(4):  # an untrained model: the rule alone makes the ending
        piece = harmonize(Primer(melody), str(satb_ckpt), options=SampleOptions(seed=seed, key=key), quantize=False)
        assert piece.voices is not None and piece.voices[0] == melody
        final = [max(v, key=lambda n: n.start) for v in piece.voices]  # struck at the tune's last note or tied
        assert all(n.start <= 8.0 < n.end for n in final)  # into it: no later onset, ...
        assert all(n.end == pytest.approx(11.0) for n in final[1:])  # held while the tune sounds, then silence
        assert final[3].pitch % 12 == tonic and {n.pitch % 12 for n in final} <= triad
    moving = melody[:-1] + [Note(8, 60, 0.5), Note(8.5, 62, 0.5)]  # a fragment ends in motion: no final chord,
    piece = harmonize(Primer(moving), str(satb_ckpt), options=SampleOptions(seed=1, key=key), quantize=False)
    assert piece.voices is not None and piece.voices[0][: len(moving)] == moving  # the voices go on past it
    assert any(n.start > 8.5 for v in piece.voices[1:] for n in v)


def test_the_tune_ending_can_be_turned_off(satb_ckpt: Path) -> None:
    melody = [Note(0, 72, 1), Note(1, 71, 1), Note(2, 69, 1), Note(3, 67, 1), Note(4, 65, 1), Note(5, 64, 1),
              Note(6, 62, 1), Note(7, 64, 1), Note(8, 60, 3)]
    endings = []
    for seed in range(4):
        piece = harmonize(Primer(melody), str(satb_ckpt), options=SampleOptions(seed=seed, key="C major",
                                                                                 tune_ending=False), quantize=False)
        assert piece.voices is not None and piece.voices[0][: len(melody)] == melody  # (free after it)
        final = [max(v, key=lambda n: n.start) for v in piece.voices]
        endings.append(all(n.start <= 8.0 < n.end for n in final) and final[3].pitch % 12 == 0)
    assert not all(endings)  # the untrained model alone does not end on a held tonic chord
    with pytest.raises(ValueError, match="tune_ending"):
        SampleOptions(tune_ending=1)  # type: ignore[arg-type]


def test_a_tunes_candidates_share_its_key_and_a_primers_alternate(satb_ckpt: Path) -> None:
    from composer.generation import harmonizations

    tune = [Note(0, 67, 1), Note(1, 69, 1), Note(2, 71, 1), Note(3, 72, 1), Note(4, 71, 2), Note(6, 67, 2)]
    keys = {p.key for p in harmonizations(Primer(tune), str(satb_ckpt), n=4, options=SampleOptions(seed=1),
                                          quantize=False)}
    assert keys == {"G major"}  # the tune ends on G: its key, for every candidate
    old = {p.key for p in harmonizations(Primer(tune), str(satb_ckpt), n=4,
                                         options=SampleOptions(seed=1, tune_ending=False), quantize=False)}
    assert old == {"G major", "E minor"}  # as recorded before the tune ending: the relative key too
    more = {p.key for p in sample_pieces(str(satb_ckpt), n=4, bars=3, options=SampleOptions(seed=1),
                                         primer=Primer(tune), quantize=False)}
    assert more == {"G major", "E minor"}  # a primer that goes on alternates


def test_a_low_tune_ending_keeps_the_bass_lowest_and_no_fermata_after_it(satb_ckpt: Path) -> None:
    melody = [Note(0, 67, 1), Note(1, 65, 1), Note(2, 64, 1), Note(3, 62, 1), Note(4, 64, 1), Note(5, 62, 1),
              Note(6, 62, 1), Note(7, 64, 1), Note(8, 60, 1)]  # ends low, on C4, a beat before the bar ends
    for seed in range(6):
        piece = harmonize(Primer(melody), str(satb_ckpt), options=SampleOptions(seed=seed, key="C major"),
                          quantize=False)
        assert piece.voices is not None
        final = [max(v, key=lambda n: n.start) for v in piece.voices]
        assert final[3].pitch % 12 == 0 and final[3].pitch <= final[2].pitch  # the tonic, not above the tenor
        assert all(f <= 8.0 for f in piece.meta["fermatas"])  # the silence after the tune takes none


def test_fermata_steps_cover_the_soprano_note_under_each_fermata() -> None:
    soprano = [Note(0, 67, 1), Note(1, 69, 2), Note(3, 71, 1)]
    assert fermata_steps(soprano, [1.0], 4) == list(range(4, 12))  # the half note at beat 1: steps 4-11
    assert fermata_steps(soprano, [3.0, 0.0], 2) == [0, 1, 6, 7]  # each note's steps, in order
    assert fermata_steps(soprano, [5.0], 4) == [20, 21, 22, 23]  # no note there: a beat long
    assert fermata_steps(soprano, [], 4) == []


def test_a_melodys_phrase_ends_become_fermata_chords_and_nothing_else_does(satb_ckpt: Path) -> None:
    """Harmonizing a melody with phrase ends marks a fermata chord at each, held as long as its note, and at no
    other melody step (an untrained model: the grammar decides)."""
    melody = [Note(0, 67, 1), Note(1, 69, 1), Note(2, 71, 2), Note(4, 72, 1), Note(5, 71, 1), Note(6, 69, 2),
              Note(8, 67, 1), Note(9, 69, 1), Note(10, 67, 2)]
    for seed in range(3):
        marked = harmonize(Primer(melody, fermatas=(2.0, 6.0)), str(satb_ckpt),
                           options=SampleOptions(seed=seed, key="G major"), quantize=False)
        assert marked.voices is not None and marked.voices[0] == melody
        assert marked.meta["fermatas"][:2] == [2.0, 6.0] and all(f >= 10.0 for f in marked.meta["fermatas"][2:])
        plain = harmonize(Primer(melody), str(satb_ckpt), options=SampleOptions(seed=seed, key="G major"),
                          quantize=False)
        assert all(f >= 10.0 for f in plain.meta["fermatas"])  # unmarked: none under the melody before its end
        ignored = harmonize(Primer(melody, fermatas=(2.0, 6.0)), str(satb_ckpt),
                            options=SampleOptions(seed=seed, key="G major", phrase_ends=False), quantize=False)
        assert ignored.notes == plain.notes  # the option off (records from before it): the marks ignored
        assert marked.meta["phrase_ends"] == 2 and ignored.meta["phrase_ends"] == 0
        assert "2 phrase ends (fermatas) harmonized" in marked.primer_summary(Primer(melody, fermatas=(2.0, 6.0)))


def test_grid_state_forces_the_fermata_at_phrase_end_steps(codec: VoiceGridCodec) -> None:
    melody = melody_steps(codec, [Note(0, 72, 1), Note(1, 74, 1), Note(2, 76, 2)], 0)
    st = GridState(codec, SampleOptions(), 1, melody=melody)
    st.phrase_ends = frozenset(fermata_steps([Note(2, 76, 2)], [2.0], codec.grid))
    fermata = codec.id_of("Fermata_None")
    allowed_fermata = []
    while not st.done and len(st.ids) < 200:
        m = st.allowed()
        if st.last == "Pos":
            allowed_fermata.append((st.step, bool(m[fermata]), int(m.sum())))
        st.update(int(np.flatnonzero(m)[0]))
    at = {s: (ok, n) for s, ok, n in allowed_fermata}
    assert all(at[s] == (True, 1) for s in range(2 * codec.grid, 4 * codec.grid))  # forced under the half note
    assert not any(at[s][0] for s in range(2 * codec.grid))  # never under the melody's other notes


def test_a_primer_reads_phrase_ends_from_fermata_markers_and_typed_marks(tmp_path: Path) -> None:
    from symusic import TextMeta

    from composer.generation.primer import parse_primer

    score = score_from_voices([[Note(4, 72, 1), Note(5, 74, 2), Note(7, 72, 1)]], ["Soprano"])
    for beat in (5, 7, 2):  # one before the notes: the leading bar of silence is cut, and with it that marker
        score.markers.append(TextMeta(beat * score.tpq, "fermata"))
    score.markers.append(TextMeta(6 * score.tpq, "rehearsal A"))  # other markers are no phrase ends
    score.dump_midi(str(tmp_path / "m.mid"))
    primer = parse_primer(tmp_path / "m.mid")
    assert primer.notes[0].start == 0 and primer.fermatas == (1.0, 3.0)
    typed = parse_primer("C4:1 D4:2^ C4:1^ E4")
    assert typed.fermatas == (1.0, 3.0) and [n.pitch for n in typed.notes] == [60, 62, 60, 64]
    assert parse_primer("C4 D4").fermatas == ()


def test_a_four_voice_pieces_fermatas_are_written_to_midi_and_musicxml(satb_ckpt: Path, tmp_path: Path) -> None:
    from composer.generation.primer import primer_from_midi
    from composer.generation.select import write_score_xml

    piece = sample_pieces(str(satb_ckpt), n=1, bars=3, options=SampleOptions(seed=5, key="F major"), quantize=False)[0]
    assert piece.meta["fermatas"]  # the final chord at least (the ending rule)
    path = piece.write(tmp_path / "p.mid")
    assert primer_from_midi(path).fermatas == tuple(piece.meta["fermatas"])  # read back as a primer's phrase ends
    xml = write_score_xml(piece, path).read_text()
    assert xml.count("<fermata") == 4 * len(piece.meta["fermatas"])  # on every voice's note there
    old = sample_pieces(str(satb_ckpt), n=1, bars=3, options=SampleOptions(seed=5, key="F major", phrase_ends=False),
                        quantize=False)[0]  # as records from before phrase ends replay: no marks written
    old_path = old.write(tmp_path / "old.mid")
    assert old.meta["fermatas"] and primer_from_midi(old_path).fermatas == ()
    assert "<fermata" not in write_score_xml(old, old_path).read_text()


def test_a_many_voiced_primers_melody_keeps_its_held_notes() -> None:
    from composer.generation.harmonizer import primer_melody, top_line
    from composer.generation.primer import PrimerTrack

    soprano = [Note(0, 72, 2), Note(2, 74, 1), Note(3, 72, 1)]  # a half note over the alto's two quarters
    alto = [Note(0, 67, 1), Note(1, 65, 1), Note(2, 67, 2)]
    notes = sorted(soprano + alto)
    assert top_line(notes) == soprano  # the alto's move at beat 1 does not cut the held C
    assert top_line(notes, held=False) == [Note(0, 72, 1), Note(1, 65, 1), *soprano[1:]]  # as records before it
    crossing = [Note(0, 67, 2), Note(2, 76, 1), Note(3, 65, 1)]  # the alto above the soprano on beat 2
    tracks = (PrimerTrack("Soprano", 0, tuple(soprano)), PrimerTrack("Alto", 0, tuple(crossing)))
    primer = Primer(sorted(soprano + crossing), tracks=tracks)
    assert primer_melody(primer) == soprano  # voices as tracks: the highest voice whole, crossings and all
    assert primer_melody(primer, held=False) == top_line(primer.notes, held=False)
    assert primer_melody(Primer(notes)) == soprano  # one track: its top line
    descant = (PrimerTrack("Piccolo", 72, (Note(0, 84, 0.5),)), PrimerTrack("Alto", 0, tuple(alto)))
    line = primer_melody(Primer(sorted([Note(0, 84, 0.5), *alto]), tracks=descant))
    assert line == [Note(0, 84, 0.5), *alto[1:]]  # a high track of one short note is no melody: the top line
    from composer.generation import GeneratedPiece

    piece = GeneratedPiece(notes=[], bars=1, time_signature=(4, 4), tempo=90.0, program=0, key="C major", seed=0,
                           primer_notes=3)  # a harmonization that kept a melody of three notes
    assert "cut" not in piece.primer_summary(Primer(notes))  # the held C whole
    assert "(1 cut where the next note starts)" in piece.primer_summary(Primer(notes), held=False)  # read as before
