"""Harmonizing phrase by phrase: a grid stream's state forked, rows regrouped, cadences kept at phrase ends."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from composer.config import SampleOptions
from composer.generation import harmonizations
from composer.generation import sampler as sampler_mod
from composer.generation import satb as satb_mod
from composer.generation import stepper as stepper_mod
from composer.generation.gridstate import GridState
from composer.generation.primer import parse_note_names
from composer.voicegrid import VoiceGridCodec

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# a chorale-like tune with its phrase ends marked (examples/make_examples.sh's)
TUNE = "G4:1 G4:1 A4:1 B4:1 C5:2^ B4:1 A4:1 G4:1 A4:1 B4:1 G4:1 A4:2^ B4:1 C5:1 D5:1 C5:1 B4:1 A4:1 B4:2 A4:2 G4:4^"


def _drive(st: GridState, rng: np.random.Generator, n: int) -> list[tuple[bytes, bytes | None]]:
    """``n`` tokens drawn at random among the allowed; each step's mask and bias, as bytes."""
    seen = []
    for _ in range(n):
        if st.done:
            break
        mask = st.allowed()
        seen.append((mask.tobytes(), None if st.bias is None else st.bias.tobytes()))
        st.update(int(rng.choice(np.flatnonzero(mask))))
    return seen


def test_a_forked_grid_state_samples_on_alone(satb_codec: VoiceGridCodec) -> None:
    opts = SampleOptions(motion_odds=1.0, phrase_odds=0.5)
    st = GridState(satb_codec, opts, 8)
    st.forced = {"Key": satb_codec.key_id(0)}
    _drive(st, np.random.default_rng(0), 150)
    fork = st.fork()
    # the same tokens from here: the same masks and offsets, step by step
    twin = st.fork()
    a = _drive(twin, np.random.default_rng(1), 120)
    b = _drive(fork, np.random.default_rng(1), 120)
    assert a == b and twin.ids == fork.ids
    # the original is untouched by its forks' tokens, and goes on as a stream never forked would
    kept = (list(st.ids), [list(v) for v in st.voices], list(st.sounding), list(st.before))
    assert (st.ids, st.voices, st.sounding, st.before) == kept and len(fork.ids) > len(st.ids)
    again = GridState(satb_codec, opts, 8)
    again.forced = {"Key": satb_codec.key_id(0)}
    for tok in st.ids:
        again.update(tok)
    assert _drive(again, np.random.default_rng(2), 80) == _drive(st, np.random.default_rng(2), 80)


def test_phrase_choice_gives_the_cadencing_rows_state_to_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the bundled model: at each judged phrase end the rows without a cadence take, tokens and LSTM state,
    the piece of a row with one; after it every row has one there; the pieces still carry the tune unchanged."""
    events: list[dict[str, Any]] = []
    call = satb_mod.PhraseChoice.__call__

    def spy(self: satb_mod.PhraseChoice, states: list[Any], rows: sampler_mod.Rows) -> None:
        taken = len(self.taken)
        call(self, states, rows)
        if len(self.taken) > taken:
            end = self._ends[len(self.judged) - 1]
            events.append({"src": self.taken[-1], "ids": [list(s.ids) for s in states], "made": self.judged[-1],
                           "after": [self.cadence_at(s, end) for s in states], "end": end})

    steps: list[np.ndarray] = []
    step = stepper_mod.Stepper.step

    def step_spy(self: stepper_mod.Stepper, tokens: np.ndarray) -> np.ndarray:
        if events and len(steps) < len(events):  # the first step after a regroup: the state it starts from
            steps.append(self.state[0].numpy().copy())
        return step(self, tokens)

    monkeypatch.setattr(satb_mod.PhraseChoice, "__call__", spy)
    monkeypatch.setattr(stepper_mod.Stepper, "step", step_spy)
    primer = parse_note_names(TUNE)
    pieces = harmonizations(primer, "chorales", n=4, options=SampleOptions(seed=3))
    assert events, "no phrase end where some rows cadenced and others not (seed 3)"
    for e, h in zip(events, steps, strict=False):
        for i, j in enumerate(e["src"]):
            if i != j:
                assert e["made"][j] and not e["made"][i]  # a row without a cadence took one with
                assert e["ids"][i] == e["ids"][j]  # its tokens so far
                assert np.array_equal(h[:, i], h[:, j])  # and the LSTM's state
        assert all(e["after"])
    melody = sorted(primer.notes)
    for p in pieces:
        assert p.voices is not None and [(n.start, n.pitch) for n in p.voices[0][: len(melody)]] == [
            (n.start, n.pitch) for n in melody]


def test_phrase_choice_off_or_one_candidate_leaves_the_draws_alone() -> None:
    primer = parse_note_names(TUNE)
    off = harmonizations(primer, "chorales", n=4, options=SampleOptions(seed=3, phrase_choice=False))
    on = harmonizations(primer, "chorales", n=4, options=SampleOptions(seed=3))
    assert [p.notes for p in off] != [p.notes for p in on]  # (seed 3: some rows took another's phrase)
    one_on = harmonizations(primer, "chorales", n=1, options=SampleOptions(seed=3))
    one_off = harmonizations(primer, "chorales", n=1, options=SampleOptions(seed=3, phrase_choice=False))
    assert one_on[0].notes == one_off[0].notes
    with pytest.raises(ValueError, match="phrase_choice"):
        SampleOptions(phrase_choice=1)  # type: ignore[arg-type]


def test_a_row_restored_from_its_snapshot_goes_on_from_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows.save / restore: a row sent back to a snapshot has that snapshot's tokens, LSTM state and next token
    (its grammar state put back by the caller); the other rows go on untouched; the pieces still end whole."""
    from composer.generation import load_model
    from composer.generation.sampler import Rows, TorchUniforms, sample_streams
    from composer.generation.stepper import Stepper

    ckpt = load_model("chorales")
    codec = ckpt.codec
    assert isinstance(codec, VoiceGridCodec)
    made: list[GridState] = []

    def make_state() -> GridState:
        st = GridState(codec, SampleOptions(), 2)
        st.forced = {"Key": codec.key_id(0)}
        made.append(st)
        return st

    calls = {"n": 0}
    kept: dict[str, Any] = {}
    seen: list[Any] = []

    def regroup(states: list[Any], rows: Rows) -> None:
        calls["n"] += 1
        if calls["n"] == 40:
            kept["state"], kept["snap"], kept["other"] = states[0].fork(), rows.save(0), list(states[1].ids)
        elif calls["n"] == 80:
            states[0] = kept["state"].fork()
            rows.restore(0, kept["snap"])
            assert rows.moved is not None
            history, alive, nxt, _ = rows.moved  # (the sampler's lists from here on: copied as they are now)
            kept["moved"] = ([list(h) for h in history], list(alive), nxt.copy())
            kept["other_now"] = list(states[1].ids)

    step = Stepper.step

    def step_spy(self: Stepper, tokens: np.ndarray) -> np.ndarray:
        if calls["n"] == 80 and not seen:
            seen.append((self.state[0].numpy().copy(), tokens.copy()))
        return step(self, tokens)

    monkeypatch.setattr(Stepper, "step", step_spy)
    stepper = Stepper(ckpt.model)
    out = list(sample_streams(stepper, codec, [[codec.bos]] * 2, SampleOptions(), None, 2000, TorchUniforms(5),
                              make_state=make_state, typed=True, regroup=regroup))
    snap = kept["snap"]
    history, alive, nxt = kept["moved"]
    assert history[0] == snap.history and int(nxt[0]) == snap.token and alive == [True, True]
    assert history[1] == kept["other_now"] and len(kept["other_now"]) > len(kept["other"])  # row 1 untouched
    h, tokens = seen[0]
    assert np.array_equal(h[:, 0], snap.h.numpy()) and int(tokens[0]) == snap.token
    assert out and all(st.done for st in (made[1],))


def test_free_pieces_rewind_a_phrase_end_without_a_cadence(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the bundled model: streams go back and sample again before fermata chords that make no cadence (at most
    the budget, at most twice at one phrase end); the pieces still come out whole; off (0) nothing is judged."""
    from composer.generation import sample_pieces

    made: list[satb_mod.PhraseRewind] = []
    init = satb_mod.PhraseRewind.__init__

    def spy(self: satb_mod.PhraseRewind, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(satb_mod.PhraseRewind, "__init__", spy)
    pieces = sample_pieces("chorales", n=4, bars=8, options=SampleOptions(seed=4, phrase_rewinds=3))
    (rw,) = made
    judged, cadenced, rewinds = rw.judged
    assert judged > 0 and 0 < rewinds <= 4 * 3 and all(b >= 0 for b in rw.budget)
    assert all(t <= satb_mod.REWIND_TRIES for row in rw.tries for t in row.values())
    for p in pieces:
        assert p.bars == 8 and p.voices is not None and all(p.voices)
        assert max(n.end for n in p.notes) == pytest.approx(32.0)  # to the final bar line
    made.clear()
    off = sample_pieces("chorales", n=4, bars=8, options=SampleOptions(seed=4, phrase_rewinds=0))
    assert not made and [p.notes for p in off] != [p.notes for p in pieces]
    with pytest.raises(ValueError, match="phrase_rewinds"):
        SampleOptions(phrase_rewinds=-1)
