"""The voices' last intervals as a model input (composer.voicemotion, ModelConfig.motion_input)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SATB_SPEC

from composer.checkpoint import load_checkpoint, save_checkpoint
from composer.config import ModelConfig, SampleOptions
from composer.errors import InputError
from composer.events import Note
from composer.generation import Stepper, sample_pieces
from composer.inference import ArrayLSTM
from composer.midifile import score_from_voices, write_score
from composer.model import LSTMModel
from composer.voicegrid import VoicedPiece, VoiceGridCodec
from composer.voicemotion import CLIP, NONE, REST, MotionTracker, motion_classes, voice_tables

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPEC = SATB_SPEC


@pytest.fixture(scope="module")
def codec(satb_codec: VoiceGridCodec) -> VoiceGridCodec:
    return satb_codec


def _piece() -> VoicedPiece:
    """Soprano C D E (up a step twice), a rest, then G; the lower voices held; a fermata on beat 4."""
    voices = [[Note(0, 72, 1.0), Note(1.0, 74, 1.0), Note(2.0, 76, 0.5), Note(3.0, 79, 1.0)],
              [Note(0, 67, 4.0)], [Note(0, 64, 2.0), Note(2.0, 60, 2.0)], [Note(0, 48, 4.0)]]
    return VoicedPiece(voices, 4, 4, (3.0,), 1)


def _cls(interval: int) -> int:
    return interval + CLIP + 1


def test_classes_follow_each_voice(codec: VoiceGridCodec) -> None:
    ids = np.array(codec.encode(_piece()))
    tokens = [codec.token_of(i) for i in ids]
    got = motion_classes(ids, *voice_tables(codec.types, codec.pitch_of))
    by = dict(zip(range(len(tokens)), zip(tokens, got.tolist(), strict=True), strict=True))
    at = {t: i for i, t in reversed(list(enumerate(tokens))) if t.startswith("Pos_")}  # first index of each Pos
    assert [by[at["Pos_0"] + k][1] for k in range(1, 5)] == [NONE] * 4  # first notes: no interval yet
    assert by[at["Pos_4"] + 1] == ("Pitch_74", _cls(2))  # the soprano stepped up
    assert by[at["Pos_5"] + 1] == ("Hold_74", _cls(2))  # held: the class stays the note's
    assert by[at["Pos_8"] + 3] == ("Pitch_60", _cls(-4))  # the tenor leapt down a third
    assert by[at["Pos_10"] + 1] == ("Rest_None", REST)
    assert tokens[at["Pos_12"] + 1] == "Fermata_None" and by[at["Pos_12"] + 1][1] == 0  # not a voice token
    assert by[at["Pos_12"] + 2] == ("Pitch_79", _cls(3))  # from the last struck note (E) over the rest
    assert all(c == 0 for t, c in by.values() if not t.startswith(("Pitch", "Hold", "Rest")))


def test_a_leap_past_the_octave_shares_its_class_and_the_tracker_agrees(codec: VoiceGridCodec) -> None:
    kind, pitch = voice_tables(codec.types, codec.pitch_of)
    voices = [[Note(0, 84, 1.0), Note(1.0, 60, 1.0)], [Note(0, 55, 2.0)], [Note(0, 52, 2.0)], [Note(0, 36, 2.0)]]
    ids = np.array(codec.encode(VoicedPiece(voices, 2, 4, (), 1)))
    batch = motion_classes(ids, kind, pitch)
    assert _cls(-CLIP) in batch.tolist()  # down two octaves: the octave's class
    tracker = MotionTracker(kind, pitch, rows=2)
    fed = np.array([tracker.feed(np.array([t, t])) for t in ids])
    assert (fed[:, 0] == batch).all() and (fed[:, 1] == batch).all()
    assert (motion_classes(np.stack([ids, ids]), kind, pitch) == batch).all()  # (B, T) rows each from a start


def _motion_model(codec: VoiceGridCodec, seed: int = 0) -> LSTMModel:
    torch.manual_seed(seed)
    model = LSTMModel(ModelConfig(codec.vocab_size, 16, 16, 2, 0.0, tie_weights=True, motion_input=True))
    model.set_voice_tables(codec)
    with torch.no_grad():
        model.motion.weight.mul_(20)  # type: ignore[union-attr]  (so the input matters in the logits)
    return model.eval()


def test_the_input_changes_the_logits_and_the_count_of_parameters(codec: VoiceGridCodec) -> None:
    model = _motion_model(codec)
    ids = torch.tensor([codec.encode(_piece())])
    with torch.no_grad():
        with_motion, _ = model(ids)
        zero = torch.zeros(ids.shape, dtype=torch.long)
        without, _ = model(ids, motion=zero)
    assert not torch.allclose(with_motion, without)
    assert model.num_parameters() == model.config.num_params()
    with pytest.raises(ValueError, match="continuing a stream"):
        model(ids[:, :3], state=model(ids[:, :2])[1])
    bare = LSTMModel(ModelConfig(codec.vocab_size, 16, 16, 1, 0.0, motion_input=True))
    with pytest.raises(RuntimeError, match="set_voice_tables"):
        bare(ids)


def test_stepping_and_the_numpy_model_match_the_whole_forward(codec: VoiceGridCodec, tmp_path: Path) -> None:
    model = _motion_model(codec)
    ids = codec.encode(_piece())
    with torch.no_grad():
        whole = model(torch.tensor([ids]))[0][0].numpy()  # (T, V)
    stepper = Stepper(model)
    got = [stepper.prime([ids[:5], ids[:5]])[0]]
    got += [stepper.step(np.array([t, t]))[1] for t in ids[5:]]
    assert np.allclose(np.array(got), whole[4:], atol=1e-5)
    path = save_checkpoint(tmp_path / "m" / "model.safetensors", model, codec,
                           {"name": "m", "corpus": "bach-chorales-satb", "default_tempo": 80.0})
    ckpt = load_checkpoint(path)
    assert ckpt.config.motion_input and "motion.weight" in ckpt.arrays
    arr = ArrayLSTM(ckpt.arrays, ckpt.config, voice_tables(codec.types, codec.pitch_of))
    got = [arr.prime([ids[:5]])[0]] + [arr.step(np.array([t]))[0] for t in ids[5:]]
    assert np.allclose(np.array(got), whole[4:], atol=1e-4)
    with torch.no_grad():  # and the checkpoint's torch model is the same model
        again = ckpt.model(torch.tensor([ids]))[0][0].numpy()
    assert np.allclose(again, whole, atol=1e-6)
    pieces = sample_pieces(str(path), n=2, bars=2, options=SampleOptions(seed=1))  # int8, stepped
    assert len(pieces) == 2 and all(len(p.voices) == 4 for p in pieces)


def test_training_with_the_motion_input(codec: VoiceGridCodec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from composer.corpus import build_corpus
    from composer.recipes import dir_recipe
    from composer.train import TrainConfig, train

    folder = tmp_path / "src"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(10):  # ten little four-part pieces, four tracks each
        steps = rng.integers(-2, 3, size=(4, 8)).cumsum(1)
        voices = [[Note(float(i), int(base + s), 1.0) for i, s in enumerate(steps[v])]
                  for v, base in enumerate((72, 64, 57, 48))]
        write_score(score_from_voices(voices, ["S", "A", "T", "B"]), folder / f"p{k}.mid")
    recipe = replace(dir_recipe(folder, name="tiny-satb", tokenizer="SATB"), valid=0.2, test=0.2)
    build_corpus(recipe, jobs=1)
    base = dict(corpus="tiny-satb", embed_dim=16, hidden_size=16, num_layers=1, seq_len=64, batch_size=4, epochs=2,
                patience=0, device="cpu", threads=1, motion_input=True)
    result = train(TrainConfig(out=str(tmp_path / "run"), **base))
    ckpt = load_checkpoint(tmp_path / "run" / "model.safetensors")
    assert ckpt.config.motion_input and ckpt.arrays["motion.weight"].shape == (28, 16)
    assert np.isfinite(result["best_val_loss"])
    pieces = sample_pieces(str(tmp_path / "run" / "model.safetensors"), n=1, bars=2, options=SampleOptions(seed=3))
    assert len(pieces[0].voices) == 4
    folk = replace(dir_recipe(folder, name="tiny-remi"), valid=0.2, test=0.2)
    build_corpus(folk, jobs=1)
    with pytest.raises(InputError, match="SATB grid"):
        train(TrainConfig(out=str(tmp_path / "remi"), **dict(base, corpus="tiny-remi")))
