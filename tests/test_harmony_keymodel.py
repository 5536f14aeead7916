"""The learned local-key model of composer.harmony.keymodel: features, decoding, the shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from composer.events import Note
from composer.harmony import analyze_notes, chords, keymodel
from composer.harmony.numerals import QUALITY_NAMES

C, G, A_MINOR = 0, 7, 21  # KEY_NAMES: C major, G major, A minor
_Q = len(QUALITY_NAMES)


def _state(root: int, quality: str) -> int:
    return root * _Q + QUALITY_NAMES.index(quality)


def _phrase(shift: int = 0) -> tuple[np.ndarray, list[int], list[int], list[int], np.ndarray]:
    """C: I IV V I, then a: iv V i with G#, beat by beat, all moved up ``shift`` semitones."""
    pcs = [(0, 4, 7), (5, 9, 0), (7, 11, 2), (0, 4, 7), (2, 5, 9), (4, 8, 11), (9, 0, 4), (9, 0, 4)]
    roots = [(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj"), (2, "min"), (4, "maj"), (9, "min"), (9, "min")]
    v = np.zeros((len(pcs), 12))
    for i, chord in enumerate(pcs):
        v[i, [(p + shift) % 12 for p in chord]] = 1.0
    bass = [60 + (r + shift) % 12 for r, _ in roots]
    states = [_state((r + shift) % 12, q) for r, q in roots]
    rule = [(C + shift) % 12] * 5 + [12 + (A_MINOR - 12 + shift) % 12] * 3
    arrivals = np.zeros((len(pcs), 24), dtype=bool)
    arrivals[3, (C + shift) % 12] = arrivals[6, 12 + (9 + shift) % 12] = True
    return v, bass, states, rule, arrivals


def _roll_keys(x: np.ndarray, shift: int) -> np.ndarray:
    """Key axis (24: major tonics, minor tonics) moved up ``shift`` semitones."""
    return np.concatenate([np.roll(x[:, :12], shift, axis=1), np.roll(x[:, 12:], shift, axis=1)], axis=1)


def test_features_are_the_same_for_every_key_seen_from_its_own_tonic() -> None:
    """The features of the phrase moved up a third, seen from E major, are those of the
    original seen from C major: the model is the same in every key."""
    f0 = keymodel.features(*_phrase(0))
    f4 = keymodel.features(*_phrase(4))
    assert f0.shape == (8, 24, keymodel.N_FEATURES)
    assert np.array_equal(_roll_keys(f0, 4), f4)
    assert not np.array_equal(f0[:, C], f0[:, G])  # and the keys differ


def test_the_scores_are_a_distribution_over_the_keys_and_move_with_the_music() -> None:
    w, _ = keymodel.shipped_model()
    s0 = keymodel.key_scores(keymodel.features(*_phrase(0)), w)
    s5 = keymodel.key_scores(keymodel.features(*_phrase(5)), w)
    assert np.allclose(np.exp(s0).sum(axis=1), 1.0)
    assert np.allclose(_roll_keys(s0, 5), s5)


def test_decode_trades_the_beats_scores_against_the_change_cost() -> None:
    """A key one beat long in the middle is kept when changing costs nothing, not when it costs
    more than it gains; the best key of each beat with no cost at all."""
    scores = np.full((5, 24), -5.0)
    scores[:, C] = -0.1
    scores[2, G] = 0.0  # G better than C by 0.1 on beat 2 alone
    assert keymodel.decode(scores, 0.0) == [C, C, G, C, C]
    assert keymodel.decode(scores, 0.04) == [C, C, G, C, C]  # two changes, 0.08 < 0.1
    assert keymodel.decode(scores, 0.06) == [C] * 5
    assert keymodel.decode(np.zeros((0, 24)), 1.0) == []


def test_the_shipped_model_reads_a_phrase_cadencing_in_the_relative_minor() -> None:
    """C: I IV V I then iv V i in A minor, G# sounding, arrivals on C and on A: the learned path
    keeps C major for the first phrase and turns to A minor, in every transposition."""
    for shift in (0, 3, 10):
        path = keymodel.learned_path(*_phrase(shift))
        assert path[:4] == [(C + shift) % 12] * 4
        assert path[-3:] == [12 + (9 + shift) % 12] * 3


def test_the_shipped_model_file_names_its_data_and_fits_the_features() -> None:
    data = json.loads(keymodel.MODEL_FILE.read_text())
    assert "When-in-Rome" in data["data"] and data["n_features"] == keymodel.N_FEATURES
    assert np.asarray(data["weights"]).shape == (2, keymodel.N_FEATURES + 1)
    assert data["change_cost"] > 0


def test_the_learned_keys_can_be_switched_off_for_the_rule_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """LEARNED_KEYS off: keymodel is not called; on: it is, and its keys are the analysis's keys."""
    bars = [((60, 64, 67), 48), ((60, 65, 69), 53), ((62, 67, 71), 43), ((60, 64, 67), 48)]
    notes = [Note(start=4.0 * b, pitch=p, duration=4.0) for b, (chord, bass) in enumerate(bars) for p in (*chord, bass)]
    calls: list[int] = []
    real = keymodel.learned_path

    def spy(*a: object, **k: object) -> list[int]:
        calls.append(1)
        return [G] * len(a[3])  # type: ignore[arg-type]

    monkeypatch.setattr(keymodel, "learned_path", spy)
    monkeypatch.setattr(chords, "LEARNED_KEYS", False)
    analyze_notes(notes)
    assert not calls
    monkeypatch.setattr(chords, "LEARNED_KEYS", True)
    a = analyze_notes(notes)
    assert calls and {r.key for r in a.local_keys} == {"G major"}
    monkeypatch.setattr(keymodel, "learned_path", real)
    assert analyze_notes(notes).local_keys[0].key == "C major"


def test_a_long_piece_is_scored_in_blocks_with_the_same_keys() -> None:
    rng = np.random.default_rng(0)
    n = 3 * keymodel.BLOCK + 37  # several blocks and a short last one
    v = rng.integers(0, 3, size=(n, 12)).astype(float) / 4  # quarter durations, as a grid gives
    bass = [int(b) for b in rng.integers(40, 60, n)]
    states = [int(s) for s in rng.integers(0, 12 * _Q, n)]
    rule = [int(k) for k in np.repeat(rng.integers(0, 24, n // 40 + 1), 40)[:n]]
    arrivals = rng.random((n, 24)) < 0.02
    w, cost = keymodel.shipped_model()
    whole = keymodel.decode(keymodel.key_scores(keymodel.features(v, bass, states, rule, arrivals), w), cost)
    assert keymodel.learned_path(v, bass, states, rule, arrivals) == whole
    assert len(set(whole)) > 1  # a path that moves: the blocks' seams are crossed by key changes


def test_a_missing_or_broken_model_file_is_one_clear_error(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from composer.errors import ComposerError

    for name, text in (("missing.json", None), ("broken.json", "{not json"),
                       ("nan.json", json.dumps({"weights": [[float("nan")] * (keymodel.N_FEATURES + 1)] * 2,
                                                "change_cost": 0.5}))):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        monkeypatch.setattr(keymodel, "MODEL_FILE", path)
        keymodel.shipped_model.cache_clear()
        with pytest.raises(ComposerError, match=f"{name}: the learned key model is missing or unreadable"):
            keymodel.shipped_model()
    keymodel.shipped_model.cache_clear()
