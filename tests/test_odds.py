"""The four-voice sampler's logit offsets (composer.generation.odds) and the options that set them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import SATB_SPEC

from composer.config import SampleOptions
from composer.generation.odds import fourth_pc_offsets, key_offsets
from composer.generation.satb import GridState
from composer.voicegrid import VoiceGridCodec

PITCHES = np.arange(48, 72)
PCS = PITCHES % 12
IS_PITCH = np.ones(len(PITCHES), dtype=bool)


def _by_pc(offsets: np.ndarray) -> dict[int, float]:
    return {int(pc): float(o) for pc, o in zip(PCS, offsets, strict=True)}


def test_key_offsets_in_major_and_minor() -> None:
    c = _by_pc(key_offsets(IS_PITCH, PCS, 0, 1.0, 0.0))  # C major, the raised fourth spared
    assert c[0] == c[7] == c[11] == 0.0 and c[1] == c[8] == c[10] == -1.0 and c[6] == 0.0
    a = _by_pc(key_offsets(IS_PITCH, PCS, 19, 2.0, 0.25))  # A minor: the harmonic minor scale
    assert a[8] == a[5] == 0.0 and a[7] == -2.0  # G# in the scale, G natural penalized
    assert a[3] == a[6] == -0.5 and a[1] == -2.0  # the raised fourth and sixth at a quarter


def test_seventh_penalty_weighs_the_lowered_and_natural_seventh() -> None:
    c = _by_pc(key_offsets(IS_PITCH, PCS, 0, 1.0, 0.0, seventh_penalty=0.5))
    assert c[10] == -0.5 and c[1] == -1.0  # Bb in C major at half; other chromatic notes whole
    a = _by_pc(key_offsets(IS_PITCH, PCS, 19, 1.0, 0.0, seventh_penalty=0.0))
    assert a[7] == 0.0 and a[1] == -1.0  # G natural in A minor free
    for bad in (-0.1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="seventh_penalty"):
            SampleOptions(seventh_penalty=bad)


def test_fourth_pitch_class_odds() -> None:
    out = fourth_pc_offsets(IS_PITCH, PCS, {0, 4, 7}, 0.5)  # C E G above: a fourth pitch class costs log 2
    assert out is not None
    by = _by_pc(out)
    assert by[0] == by[4] == by[7] == 0.0 and math.isclose(by[10], math.log(0.5), rel_tol=1e-6)
    assert fourth_pc_offsets(IS_PITCH, PCS, {0, 7}, 0.5) is None  # two above: no fourth to add
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="four_pcs"):
            SampleOptions(four_pcs=bad)


def test_grid_state_applies_four_pcs_to_the_bass_on_beats_only() -> None:
    codec = VoiceGridCodec(SATB_SPEC)
    st = GridState(codec, SampleOptions(four_pcs=0.5, key_bias=0.0), bars=4)
    st.sounding, st.voice, st.pos, st.last = [72, 67, 64, -1], 3, 0, "Voice"  # C G E above the bass, on the beat
    st.allowed()
    assert st.bias is not None
    assert st.bias[codec.id_of("Pitch_50")] == pytest.approx(math.log(0.5))  # D: a fourth pitch class
    assert st.bias[codec.id_of("Pitch_48")] == 0.0 and st.bias[codec.id_of("Rest_None")] == 0.0
    st.pos = 1  # off the beat: the model's odds
    st.allowed()
    assert st.bias is None
    off = GridState(codec, SampleOptions(key_bias=0.0, four_pcs=None), bars=4)  # off: no offsets at all
    off.sounding, off.voice, off.pos, off.last = [72, 67, 64, -1], 3, 0, "Voice"
    off.allowed()
    assert off.bias is None


def test_clash_odds_on_new_notes_a_semitone_from_one_struck_above_on_a_beat() -> None:
    codec = VoiceGridCodec(SATB_SPEC)
    opts = SampleOptions(clash_odds=0.5, key_bias=0.0, four_pcs=None, motion_odds=None)

    def alto_bias(soprano: str, pos: int) -> np.ndarray | None:
        st = GridState(codec, opts, bars=4)
        st.voice, st.pos, st.last = 0, pos, "Voice"
        st.update(codec.id_of(soprano))  # the soprano's token at this step; the alto is next
        st.allowed()
        return st.bias

    bias = alto_bias("Pitch_72", 0)  # the soprano strikes C on the beat
    assert bias is not None
    for clash in ("Pitch_71", "Pitch_61", "Pitch_59"):  # B and C#, any octave
        assert bias[codec.id_of(clash)] == pytest.approx(math.log(0.5))
    for free in ("Pitch_67", "Pitch_64", "Hold_71", "Rest_None"):  # consonant, held, silent
        assert bias[codec.id_of(free)] == 0.0
    assert alto_bias("Hold_72", 0) is None  # a held soprano (a suspension's preparation): the model's odds
    assert alto_bias("Pitch_72", 1) is None  # off the beat: the model's odds
    with pytest.raises(ValueError, match="clash_odds"):
        SampleOptions(clash_odds=0.0)
    from composer.generation.odds import clash_offsets

    assert clash_offsets(np.ones(3, dtype=bool), np.array([1, 2, 11]), 0, 0.5) is None  # nothing struck above


def _context_bias_at(codec: VoiceGridCodec, opts: SampleOptions, voice: int, pos: int, meter: tuple[int, int],
                     struck_before: bool) -> np.ndarray | None:
    """A grid stream's offsets for ``voice``'s token at step ``pos`` of the first bar (the chord C G E C sounding),
    ``struck_before``: the voice struck its note at the step before."""
    st = GridState(codec, opts, bars=4, meter=meter)
    st.bar, st.pos, st.last = 0, pos - 1, "Voice"
    st.sounding, st.voice = [72, 67, 64, 48], voice
    if struck_before:
        st.update(codec.id_of(f"Pitch_{[72, 67, 64, 48][voice]}"))
    st.pos, st.voice = pos, voice
    st.allowed()
    return st.bias


def test_onset_odds_by_voice_and_place_in_the_beat(monkeypatch: pytest.MonkeyPatch) -> None:
    from composer.generation import odds

    table = ((0.0, 0.1, 0.2, 0.3), (0.0, 0.4, 0.5, -0.6), (0.7, 0.8, 0.9, 1.0), (0.0, 0.0, 0.0, 0.0))
    monkeypatch.setattr(odds, "ONSET_CALIBRATION", table)
    codec = VoiceGridCodec(SATB_SPEC)

    def bias(voice: int, pos: int, strength: float = 1.0, meter: tuple[int, int] = (4, 4),
             struck_before: bool = False) -> np.ndarray | None:
        opts = SampleOptions(onset_odds=strength, key_bias=0.0, four_pcs=None, motion_odds=None)
        return _context_bias_at(codec, opts, voice, pos, meter, struck_before)

    alto_eighth = bias(1, 2)
    assert alto_eighth is not None
    assert alto_eighth[codec.id_of("Pitch_65")] == pytest.approx(0.4)
    assert alto_eighth[codec.id_of("Hold_67")] == 0.0 and alto_eighth[codec.id_of("Rest_None")] == 0.0
    after_eighth, after_none = bias(1, 3, struck_before=True), bias(1, 3, 0.5)  # two 16ths; a dotted eighth's
    assert after_eighth is not None and after_none is not None
    assert after_eighth[codec.id_of("Pitch_65")] == pytest.approx(0.5)
    assert after_none[codec.id_of("Pitch_65")] == pytest.approx(0.5 * -0.6)
    tenor = bias(2, 5)  # the second 16th of the second beat
    assert tenor is not None and tenor[codec.id_of("Pitch_62")] == pytest.approx(0.7)
    assert bias(1, 4) is None  # on the beat: the model's odds
    assert bias(3, 7) is None  # a zero entry: no offsets
    assert bias(1, 2, meter=(6, 8)) is None  # a dotted-quarter beat: the table's places do not apply


def test_sixteenth_odds_after_a_note_at_a_16ths_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new note right after a voice struck at a beat's second or fourth 16th (between the beats or on one)."""
    from composer.generation import odds

    table = ((0.0, 0.1, 0.2, 0.3),) * 4
    monkeypatch.setattr(odds, "ONSET_CALIBRATION", table)
    codec = VoiceGridCodec(SATB_SPEC)

    def bias(voice: int, pos: int, struck_before: bool, sixteenth: float | None = 20.0, onsets: float | None = None,
             meter: tuple[int, int] = (4, 4)) -> np.ndarray | None:
        opts = SampleOptions(onset_odds=onsets, sixteenth_odds=sixteenth, key_bias=0.0, four_pcs=None,
                             motion_odds=None)
        return _context_bias_at(codec, opts, voice, pos, meter, struck_before)

    eighth = bias(1, 2, True)  # the alto struck at the second 16th: its eighth
    assert eighth is not None
    assert eighth[codec.id_of("Pitch_65")] == pytest.approx(math.log(20.0))
    assert eighth[codec.id_of("Hold_67")] == 0.0 and eighth[codec.id_of("Rest_None")] == 0.0
    on_beat = bias(0, 4, True)  # the soprano struck at the fourth 16th: the next beat (no other rule there)
    assert on_beat is not None and on_beat[codec.id_of("Pitch_74")] == pytest.approx(math.log(20.0))
    assert on_beat[codec.id_of("Hold_72")] == 0.0
    both = bias(1, 2, True, onsets=0.5)  # with the onset odds: the two added
    assert both is not None and both[codec.id_of("Pitch_65")] == pytest.approx(0.5 * 0.1 + math.log(20.0))
    assert bias(1, 2, False) is None  # nothing struck at the 16th before
    assert bias(1, 3, True) is None  # after the eighth (two 16ths may follow or not: the onset odds' place)
    assert bias(0, 4, False) is None and bias(0, 4, True, sixteenth=None) is None
    assert bias(1, 2, True, meter=(6, 8)) is None  # a dotted-quarter beat: no 16th places of a quarter
    with pytest.raises(ValueError, match="sixteenth_odds"):
        SampleOptions(sixteenth_odds=0.0)


def test_degree_odds_add_the_calibration_on_new_notes() -> None:
    from composer.generation.odds import DEGREE_CALIBRATION

    base = _by_pc(key_offsets(IS_PITCH, PCS, 19, 1.0, 0.0))  # A minor
    cal = _by_pc(key_offsets(IS_PITCH, PCS, 19, 1.0, 0.0, degree_odds=0.5))
    for pc in range(12):  # degree (pc - A) % 12 gets half its log-odds
        assert cal[pc] == pytest.approx(base[pc] + 0.5 * DEGREE_CALIBRATION[True][(pc - 9) % 12], abs=1e-6)
    assert cal[1] > base[1]  # C#, the Picardy third and V/iv, rarer in the sampler than in Bach: raised
    c = _by_pc(key_offsets(IS_PITCH, PCS, 0, 1.0, 0.0, degree_odds=1.0))
    assert c[7] > 0 > c[5]  # C major: the dominant up, the subdominant down
    assert key_offsets(IS_PITCH, PCS, 0, 1.0, 0.0, degree_odds=0.0).tolist() == key_offsets(
        IS_PITCH, PCS, 0, 1.0, 0.0).tolist()
    for bad in (-0.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="degree_odds"):
            SampleOptions(degree_odds=bad)


def test_motion_odds_read_the_degrees_fitted_with_them() -> None:
    from composer.generation.odds import DEGREE_CALIBRATION, DEGREE_CALIBRATION_MOTION

    for key, minor in ((0, False), (19, True)):  # C major, A minor
        tonic = key // 2
        plain = _by_pc(key_offsets(IS_PITCH, PCS, key, 1.0, 0.0, degree_odds=0.8))
        moved = _by_pc(key_offsets(IS_PITCH, PCS, key, 1.0, 0.0, degree_odds=0.8, motion=True))
        for pc in range(12):  # the same soft key; the degrees from the table fitted on the motion sampler
            d = (pc - tonic) % 12
            assert moved[pc] - plain[pc] == pytest.approx(
                0.8 * (DEGREE_CALIBRATION_MOTION[minor][d] - DEGREE_CALIBRATION[minor][d]), abs=1e-5)
    assert DEGREE_CALIBRATION_MOTION[False][7] > DEGREE_CALIBRATION[False][7]  # the dominant raised further
    assert key_offsets(IS_PITCH, PCS, 0, 1.0, 0.0, motion=True).tolist() == key_offsets(
        IS_PITCH, PCS, 0, 1.0, 0.0).tolist()  # without degree odds the table is not read
    codec = VoiceGridCodec(SATB_SPEC)
    pitch = np.asarray(codec.pitch_of) % 12
    is_pitch = np.array([t == "Pitch" for t in codec.types])
    # the sampler's soft key: the motion table exactly when the motion odds are on, on the beats; on every
    # note (motion_beats False: records from before motion_beats) the table they were sampled with
    for motion, beats, table in ((None, True, False), (1.5, True, True), (1.5, False, False)):
        st = GridState(codec, SampleOptions(motion_odds=motion, motion_beats=beats), bars=4)
        assert st.options.motion_degrees is table
        st.update(codec.key_id(0))
        want = key_offsets(is_pitch, pitch, 0, st.options.key_bias, st.options.raised_penalty,
                           st.options.seventh_penalty, st.options.degree_odds, table)
        assert st.bias is not None and np.allclose(st.bias[is_pitch], want[is_pitch])


def test_motion_odds_raise_a_continuing_step_after_a_step_up() -> None:
    from composer.generation.odds import MOTION_CALIBRATION, motion_of

    codec = VoiceGridCodec(SATB_SPEC)
    st = GridState(codec, SampleOptions(key_bias=0.0, four_pcs=None, motion_odds=1.5, motion_beats=False), bars=4)
    st.voice, st.last = 0, "Voice"
    st.allowed()
    assert st.bias is None  # no note yet: no motion, no offsets
    st.update(codec.id_of("Pitch_72"))  # the soprano: C, then D (a step up)
    st.voice, st.last = 0, "Voice"
    st.allowed()
    assert st.bias is None  # one note: no motion yet
    st.update(codec.id_of("Pitch_74"))
    st.voice, st.last = 0, "Voice"
    st.allowed()
    assert st.bias is not None
    up, back = MOTION_CALIBRATION[1][0], MOTION_CALIBRATION[1][1]  # after a step up: on up, and back
    assert up > 0 > back
    assert st.bias[codec.id_of("Pitch_76")] == pytest.approx(1.5 * up)  # E: on up, at exp(1.5 * up) the odds
    assert st.bias[codec.id_of("Pitch_72")] == pytest.approx(1.5 * back)  # C: back down
    assert st.bias[codec.id_of("Pitch_74")] == 0.0  # a repeat: its own kind, left alone
    assert st.bias[codec.id_of("Hold_74")] == 0.0 and st.bias[codec.id_of("Rest_None")] == 0.0
    assert st.bias[codec.id_of("Pitch_79")] == pytest.approx(1.5 * MOTION_CALIBRATION[1][2])  # a leap up
    st.voice = 1  # the alto has no notes: no offsets
    st.allowed()
    assert st.bias is None
    assert [motion_of(d) for d in (0, 1, 2, -2, 3, -7)] == [0, 1, 1, 2, 3, 4]
    off = GridState(codec, SampleOptions(key_bias=0.0, four_pcs=None, motion_odds=None), bars=4)
    for p in (72, 74):
        off.voice, off.last = 0, "Voice"
        off.update(codec.id_of(f"Pitch_{p}"))
    off.voice, off.last = 0, "Voice"
    off.allowed()
    assert off.bias is None  # off: no offsets
    for bad in (-0.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="motion_odds"):
            SampleOptions(motion_odds=bad)


def test_motion_beats_reweight_only_the_notes_on_a_beat() -> None:
    from composer.generation.odds import MOTION_CALIBRATION

    codec = VoiceGridCodec(SATB_SPEC)
    for beats in (False, True):
        opts = SampleOptions(key_bias=0.0, four_pcs=None, onset_odds=None, sixteenth_odds=None, motion_odds=1.0,
                             motion_beats=beats)
        st = GridState(codec, opts, bars=4)
        for p in (72, 74):  # the soprano: C, then D (a step up)
            st.voice, st.last = 0, "Voice"
            st.update(codec.id_of(f"Pitch_{p}"))
        for pos in (0, 1, 2, 4):  # on the beat (0, 4), between (1, 2)
            st.voice, st.last, st.pos = 0, "Voice", pos
            st.allowed()
            if beats and pos % 4:
                assert st.bias is None  # a passing note: the model's odds
            else:
                assert st.bias is not None
                assert st.bias[codec.id_of("Pitch_76")] == pytest.approx(MOTION_CALIBRATION[1][0])  # on up
    for bad in (1, "yes", None):
        with pytest.raises(ValueError, match="motion_beats"):
            SampleOptions(motion_beats=bad)  # type: ignore[arg-type]



def test_bass_odds_weigh_the_bass_s_new_note_by_its_degree_after_its_last(monkeypatch: pytest.MonkeyPatch) -> None:
    from composer.generation import odds
    from composer.generation.odds import MOTION_CALIBRATION

    table = [[[0.0] * 12 for _ in range(12)] for _ in range(2)]
    table[0][11][0] = 1.0  # major: the leading tone up to the tonic (B -> C)
    table[0][11][7] = -0.5  # B -> G
    table[1][11][0] = 0.7  # minor (the tonic A): its degree 11, G#, to A
    monkeypatch.setattr(odds, "BASS_CALIBRATION", tuple(tuple(tuple(r) for r in m) for m in table))
    codec = VoiceGridCodec(SATB_SPEC)

    def bias(voice: int, pitches: tuple[int, ...], minor: bool = False, strength: float | None = 0.5) -> np.ndarray:
        opts = SampleOptions(key_bias=0.0, four_pcs=None, onset_odds=None, motion_odds=1.0, bass_odds=strength)
        st = GridState(codec, opts, bars=4)
        st.update(codec.key_id(19 if minor else 0))
        for p in pitches:
            st.voice, st.last = voice, "Voice"
            st.update(codec.id_of(f"Pitch_{p}"))
        st.voice, st.last, st.pos = voice, "Voice", 4
        st.allowed()
        assert st.bias is not None
        return st.bias

    up = MOTION_CALIBRATION[1]  # the motion odds after a step up (C -> B is down: after a step down, row 2)
    down = MOTION_CALIBRATION[2]
    bass = bias(3, (48, 47))  # the bass: C3, B2; now C3 (step up), G2 (leap down), D3 (leap up)
    assert bass[codec.id_of("Pitch_48")] == pytest.approx(down[0] + 0.5 * 1.0)
    assert bass[codec.id_of("Pitch_43")] == pytest.approx(down[3] - 0.5 * 0.5)
    assert bass[codec.id_of("Pitch_50")] == pytest.approx(down[2])  # a move the table leaves alone
    assert bass[codec.id_of("Pitch_47")] == 0.0  # a repeat: its own kind
    tenor = bias(2, (60, 59))  # the tenor's B -> C: the motion odds only
    assert tenor[codec.id_of("Pitch_60")] == pytest.approx(down[0])
    minor = bias(3, (45, 44), minor=True)  # A minor: G#2 -> A2
    assert minor[codec.id_of("Pitch_45")] == pytest.approx(down[0] + 0.5 * 0.7)
    off = bias(3, (48, 47), strength=None)
    assert off[codec.id_of("Pitch_48")] == pytest.approx(down[0])
    assert up[0] > 0
    with pytest.raises(ValueError, match="bass_odds"):
        SampleOptions(bass_odds=-1.0)


def test_phrase_odds_weigh_a_new_fermata_by_the_phrase_length_on_beats_only() -> None:
    from composer.generation.odds import PhraseOdds

    table = tuple(float(k) for k in range(10))
    po = PhraseOdds(fermata_id=3, size=8, beat=4, strength=0.5, table=table)
    base = np.arange(8, dtype=np.float32)
    assert po.bias(base, 0, 0) is base  # the piece's first step: no phrase yet
    got = po.bias(base, 8, 0)  # two beats in
    assert got is not None and got[3] == pytest.approx(3 + 0.5 * 2)
    assert np.array_equal(np.delete(got, 3), np.delete(base, 3))  # the other tokens' offsets kept
    assert po.bias(base, 8, 0) is got  # looked up
    assert po.bias(base, 9, 1) is base  # between the beats: the model's odds
    assert po.bias(None, 400, 0)[3] == pytest.approx(0.5 * 9)  # type: ignore[index]  # longer: the last entry
    po.fermata(12)  # a fermata at step 12 starts the next phrase
    assert po.bias(base, 13, 1) is base  # and one held on is the model's
    po.fermata(13)
    assert po.start == 12 and po.bias(base, 14, 2) is base
    assert po.bias(base, 16, 0)[3] == pytest.approx(3 + 0.5 * 1)  # type: ignore[index]  # a beat from its onset
    po.fermata(20)
    assert po.start == 20  # a new fermata (not held on from the step before)
    po.fermata(23)
    assert po.bias(base, 24, 0) is base  # on a beat, but the fermata held on from the step before: the model's
    assert len(PhraseOdds(3, 8, 4, 1.0, table=(0.0, 1.0, 2.0, 2.0, 2.0))._offsets) == 3  # one sum for the longest
    with pytest.raises(ValueError, match="phrase_odds"):
        SampleOptions(phrase_odds=-1.0)


def test_grid_state_adds_the_phrase_odds_to_the_fermata_at_a_step() -> None:
    from composer.generation.odds import PHRASE_CALIBRATION

    codec = VoiceGridCodec(SATB_SPEC)
    fermata = codec.id_of("Fermata_None")
    seen = {}
    for odds in (None, 1.0):
        st = GridState(codec, SampleOptions(key_bias=0.0, four_pcs=None, motion_odds=None, phrase_odds=odds), bars=4)
        st.last, st.bar, st.pos, st.voice = "Pos", 1, 0, 0  # bar 2's downbeat: a phrase of one bar so far
        m = st.allowed()
        assert m[fermata]
        seen[odds] = 0.0 if st.bias is None else float(st.bias[fermata])
    assert seen[None] == 0.0 and seen[1.0] == pytest.approx(PHRASE_CALIBRATION[4])
