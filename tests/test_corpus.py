"""Tests of composer.corpus: real round trips on every chorale, bad files, resuming, splits."""

from __future__ import annotations

import bisect
import json
import shutil
from collections import Counter
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _corpus_fixtures import write_tiny_midis

from composer.config import TokenizerSpec
from composer.corpus import build_corpus, built_corpora, corpus_stats, load_corpus
from composer.errors import CorpusError
from composer.midifile import load_score
from composer.recipes import Recipe, dir_recipe, load_recipe, split_of

NoteKey = tuple[int, Fraction, Fraction]  # (pitch, onset, duration), both in quarter notes


# ---- a reference quantizer, written from MidiTok's documented semantics ------------------------
def duration_grid(spec: TokenizerSpec) -> list[Fraction]:
    """Every duration the tokenizer can write, in beats of the time signature's denominator."""
    values = set()
    for span, res in spec.beat_res.items():
        lo, hi = (int(x) for x in span.split("_"))
        values |= {Fraction(b) + Fraction(s, res) for b in range(lo, hi) for s in range(res)}
    values.add(Fraction(max(int(span.split("_")[1]) for span in spec.beat_res)))
    return sorted(v for v in values if v > 0)


def nearest(grid: list[Fraction], x: Fraction) -> Fraction:
    """The value of ``grid`` (sorted) closest to ``x``; the smaller one on a tie."""
    i = bisect.bisect_left(grid, x)
    near = grid[max(0, i - 1) : i + 1]
    return min(near, key=lambda v: (abs(v - x), v))


def expected_notes(score: Any, spec: TokenizerSpec) -> Counter[NoteKey]:
    """The notes of a MIDI score as the tokenizer should keep them.

    A beat is the denominator of the time signature in force (a quarter in 4/4,
    a half in 3/2, an eighth in 12/8); onsets snap to ``max(beat_res)`` steps
    per beat and durations to the nearest value of the duration vocabulary
    (so anything longer than the longest is clipped to it).
    """
    steps = max(spec.beat_res.values())
    grid = duration_grid(spec)
    sigs = sorted((ts.time, ts.denominator) for ts in score.time_signatures) or [(0, 4)]
    sig_times = [t for t, _ in sigs]
    lo, hi = spec.pitch_range
    out: Counter[NoteKey] = Counter()
    for track in score.tracks:
        if track.is_drum:
            continue
        for n in track.notes:
            if not lo <= n.pitch < hi:
                continue
            denominator = sigs[max(0, bisect.bisect_right(sig_times, n.time) - 1)][1]
            beat = Fraction(4, denominator)  # quarter notes per beat
            onset = round(Fraction(n.time, score.tpq) / beat * steps) * beat / steps
            dur = nearest(grid, Fraction(max(n.duration, 1), score.tpq) / beat) * beat
            out[(int(n.pitch), onset, dur)] += 1
    return out


def decoded_notes(score: Any) -> Counter[NoteKey]:
    """The notes of a decoded score, exactly, in quarter notes."""
    return Counter(
        (int(n.pitch), Fraction(n.time, score.tpq), Fraction(n.duration, score.tpq))
        for track in score.tracks
        for n in track.notes
    )


def test_reference_quantizer_on_known_values() -> None:
    spec = TokenizerSpec()  # beat_res 0_4: 8, 4_12: 4
    grid = duration_grid(spec)
    assert grid[0] == Fraction(1, 8) and grid[-1] == 12
    assert nearest(grid, Fraction(7, 2)) == Fraction(7, 2)
    assert nearest(grid, Fraction(41, 10)) == Fraction(4)  # 4.1 -> 4 (quarter-beat steps past 4)
    assert nearest(grid, Fraction(15)) == 12  # clipped


# ---- the full chorale corpus -------------------------------------------------------------------
@pytest.mark.slow
def test_chorales_build_covers_the_collection(chorales_corpus: Any) -> None:
    m = chorales_corpus.manifest
    assert m["name"] == "bach-chorales"
    assert m["totals"]["pieces"] + m["totals"]["skipped"] == 371  # Riemenschneider's numbering
    assert m["totals"]["pieces"] >= 360
    # Only chorales that music21 does not ship may be missing: no conversion failed.
    assert set(m["skip_reasons"]) <= {"not in music21's corpus"}
    assert m["totals"]["notes"] == sum(p["notes"] for p in chorales_corpus.pieces())
    assert m["totals"]["tokens"] == sum(p["tokens"] for p in chorales_corpus.pieces())
    for piece in chorales_corpus.pieces():
        assert piece["style"] == "bach-chorales"
        assert 21 <= piece["pitch_min"] <= piece["pitch_max"] < 109
        assert piece["beats"] > 8


@pytest.mark.slow
def test_every_chorale_round_trips_through_the_tokens(chorales_corpus: Any) -> None:
    """decode(tokens) has the notes of the MIDI file that went in, to the tokenizer's resolution."""
    codec = chorales_corpus.codec
    failures = []
    for piece in chorales_corpus.pieces():
        pid = piece["id"]
        source = load_score(chorales_corpus.root / "midi" / f"{pid}.mid")
        ids = chorales_corpus.tokens(pid)
        assert ids.dtype == np.int32 and ids.ndim == 1 and len(ids) == piece["tokens"]
        want = expected_notes(source, codec.spec)
        got = decoded_notes(codec.decode(ids))
        assert sum(want.values()) == piece["notes"], pid  # the chorales stay inside pitch_range
        if got != want:
            missing, extra = want - got, got - want
            failures.append(
                f"{pid}: missing {list(missing.items())[:3]}, extra {list(extra.items())[:3]}"
            )
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_chorale_ids_and_splits(chorales_corpus: Any) -> None:
    pieces = chorales_corpus.pieces()
    ids = [p["id"] for p in pieces]
    assert len(set(ids)) == len(ids)
    by_split = {s: {p["id"] for p in chorales_corpus.pieces(s)} for s in ("train", "valid", "test")}
    assert not by_split["train"] & by_split["valid"]
    assert not by_split["train"] & by_split["test"]
    assert not by_split["valid"] & by_split["test"]
    assert set().union(*by_split.values()) == set(ids)
    assert chorales_corpus.manifest["splits"] == {s: len(v) for s, v in by_split.items()}
    # 10 % / 10 % of 370 pieces: a hash split lands near those shares.
    assert 0.05 < len(by_split["valid"]) / len(ids) < 0.15
    assert 0.05 < len(by_split["test"]) / len(ids) < 0.15
    recipe = load_recipe("bach-chorales")
    for p in pieces:
        assert p["split"] == split_of(p["id"], recipe)
    with pytest.raises(ValueError, match="split must be"):
        chorales_corpus.pieces("training")


@pytest.mark.slow
def test_rebuild_converts_nothing_and_a_deleted_record_comes_back(
    chorales_corpus: Any, tmp_path: Path
) -> None:
    root = tmp_path / "corpora"
    shutil.copytree(chorales_corpus.root, root / "bach-chorales")
    out = root / "bach-chorales"
    before = {p: p.stat().st_mtime_ns for p in (out / "pieces").iterdir()}
    midi_before = {p: p.stat().st_mtime_ns for p in (out / "midi").iterdir()}
    old_manifest = (out / "manifest.json").read_text()
    calls: list[tuple[int, int]] = []
    recipe = load_recipe("bach-chorales")

    manifest = build_corpus(recipe, root=root, jobs=1, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(371, 371)]  # everything already done: no piece was submitted
    assert {p: p.stat().st_mtime_ns for p in (out / "pieces").iterdir()} == before
    assert {p: p.stat().st_mtime_ns for p in (out / "midi").iterdir()} == midi_before
    assert (out / "manifest.json").read_text() == old_manifest
    assert manifest == json.loads(old_manifest)

    victim = chorales_corpus.pieces("valid")[0]["id"]
    record = out / "pieces" / f"{victim}.json"
    old_record = json.loads(record.read_text())
    record.unlink()
    calls.clear()
    again = build_corpus(recipe, root=root, jobs=1, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(370, 371), (371, 371)]  # exactly one piece converted
    assert json.loads(record.read_text()) == old_record
    assert again["hash"] == manifest["hash"]
    assert (out / "manifest.json").read_text() == old_manifest


@pytest.mark.slow
def test_corpus_stats_of_the_chorales(chorales_corpus: Any) -> None:
    s = corpus_stats(chorales_corpus)
    assert s["pieces"] == len(chorales_corpus.pieces())
    assert sum(s["keys"].values()) == s["pieces"]
    assert sum(s["length_histogram"].values()) == s["pieces"]
    assert sum(s["splits"].values()) == s["pieces"]
    assert s["vocab_size"] == chorales_corpus.codec.vocab_size
    assert "4/4" in s["time_signatures"] and "3/4" in s["time_signatures"]
    # Bach's chorale keys are mostly major; at least a dozen different keys occur.
    assert len(s["keys"]) >= 12
    json.dumps(s)  # JSON-native


# ---- a folder of MIDI files, good and bad --------------------------------------------------------
def test_from_dir_skips_bad_files_with_counted_reasons(
    messy_midi_dir: Path, tmp_path: Path
) -> None:
    recipe = dir_recipe(messy_midi_dir, name="messy")
    manifest = build_corpus(recipe, root=tmp_path, jobs=2)
    ids = {p["id"] for p in manifest["pieces"]}
    assert ids == {"good.mid", "other.midi", "sub_deeper_nested.mid"}
    skipped = {s["id"]: s["reason"] for s in manifest["skipped"]}
    assert set(skipped) == {
        "corrupt.mid",
        "empty.mid",
        "drums.mid",
        "zero.mid",
        "sub_truncated.mid",
    }
    assert skipped["zero.mid"] == "empty file"
    assert skipped["drums.mid"] == "drum-only file"
    assert skipped["empty.mid"] == "no notes"
    assert "no MThd header" in skipped["corrupt.mid"]
    assert skipped["sub_truncated.mid"].startswith("truncated MIDI file")
    assert manifest["skip_reasons"] == {
        "empty file": 1,
        "drum-only file": 1,
        "no notes": 1,
        "not a MIDI file": 1,
        "truncated MIDI file": 1,
    }
    assert manifest["totals"]["skipped"] == 5 and manifest["totals"]["pieces"] == 3
    # Reasons name the problem, not the user's absolute path.
    assert not any(str(messy_midi_dir) in r for r in skipped.values())
    by_id = {p["id"]: p for p in manifest["pieces"]}
    assert by_id["good.mid"]["notes"] == 10
    assert by_id["sub_deeper_nested.mid"]["notes"] == 24
    assert by_id["other.midi"]["time_signature"] == "3/4"
    assert by_id["good.mid"]["key"] == "C major"
    assert by_id["good.mid"]["tempo"] == pytest.approx(100.0)
    assert built_corpora(tmp_path) == ["messy"]
    # A folder corpus keeps velocities and tempos.
    corpus = load_corpus("messy", tmp_path)
    assert corpus.codec.spec.use_velocities and corpus.codec.spec.use_tempos
    assert not (tmp_path / "messy" / "midi" / "good.mid.mid").exists()  # sources are not copied


def test_from_dir_round_trip_of_a_small_file(messy_midi_dir: Path, tmp_path: Path) -> None:
    build_corpus(dir_recipe(messy_midi_dir, name="messy"), root=tmp_path, jobs=1)
    corpus = load_corpus(tmp_path / "messy")
    for pid, src in (("good.mid", "good.mid"), ("sub_deeper_nested.mid", "sub/deeper/nested.mid")):
        source = load_score(messy_midi_dir / src)
        got = decoded_notes(corpus.codec.decode(corpus.tokens(pid)))
        assert got == expected_notes(source, corpus.codec.spec)


def test_resume_of_a_folder_corpus(messy_midi_dir: Path, tmp_path: Path) -> None:
    recipe = dir_recipe(messy_midi_dir, name="messy")
    first = build_corpus(recipe, root=tmp_path, jobs=1)
    out = tmp_path / "messy"
    records = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "pieces").iterdir()}
    assert len(records) == 8  # one record per file, skipped ones included
    second = build_corpus(recipe, root=tmp_path, jobs=1)
    assert second == first
    assert {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "pieces").iterdir()
    } == records
    (out / "pieces" / "good.mid.json").unlink()
    (out / "tokens" / "good.mid.npy").unlink()
    (out / "pieces" / "zero.mid.json").unlink()
    third = build_corpus(recipe, root=tmp_path, jobs=1)
    assert third == first
    assert (out / "tokens" / "good.mid.npy").exists()
    assert (out / "pieces" / "good.mid.json").read_bytes() == records["good.mid.json"][0]


def test_limit_builds_a_prefix_with_the_same_splits(tmp_path: Path) -> None:
    write_tiny_midis(tmp_path / "midi")
    recipe = replace(dir_recipe(tmp_path / "midi", name="tiny"), valid=0.2, test=0.2)
    small = build_corpus(recipe, root=tmp_path / "a", jobs=1, limit=5)
    full = build_corpus(recipe, root=tmp_path / "b", jobs=1)
    assert small["totals"]["pieces"] == 5 and all(small["splits"].values())
    full_split = {p["id"]: p["split"] for p in full["pieces"]}
    for p in small["pieces"]:
        assert full_split[p["id"]] == p["split"] == split_of(p["id"], recipe)


def test_rebuild_with_another_tokenizer_is_refused(messy_midi_dir: Path, tmp_path: Path) -> None:
    build_corpus(dir_recipe(messy_midi_dir, name="messy"), root=tmp_path, jobs=1)
    with pytest.raises(CorpusError, match="another tokenizer"):
        build_corpus(
            dir_recipe(messy_midi_dir, name="messy", tokenizer="TSD"), root=tmp_path, jobs=1
        )


def test_empty_folder_is_a_corpus_error(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("no MIDI here")
    with pytest.raises(CorpusError, match=r"nothing: no \.mid/\.midi files$"):
        build_corpus(dir_recipe(tmp_path / "nothing"), root=tmp_path / "out", jobs=1)


def test_load_corpus_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="'nope' is not built and is no recipe or folder"):
        load_corpus("nope", tmp_path)
    with pytest.raises(CorpusError, match="run: composer corpus build folk$"):
        load_corpus("folk", tmp_path)
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    with pytest.raises(CorpusError, match="corrupt manifest"):
        load_corpus("broken", tmp_path)
    assert built_corpora(tmp_path / "absent") == []


# ---- splits ------------------------------------------------------------------------------------
def _recipe(seed: int = 7, valid: float = 0.1, test: float = 0.1) -> Recipe:
    return Recipe(
        name="r",
        description="",
        sources=({"kind": "dir", "path": "."},),
        valid=valid,
        test=test,
        seed=seed,
    )


def test_split_depends_only_on_id_and_seed() -> None:
    ids = [f"piece{i:04d}" for i in range(2000)]
    a = [split_of(i, _recipe(seed=7)) for i in ids]
    assert a == [split_of(i, _recipe(seed=7)) for i in ids]  # same id, same seed: same split
    # Shrinking the held-out shares never moves a training piece out of training.
    c = [split_of(i, _recipe(seed=7, valid=0.05, test=0.05)) for i in ids]
    assert all(y == "train" for x, y in zip(a, c, strict=True) if x == "train")
    counts = Counter(a)
    assert set(counts) == {"train", "valid", "test"}
    assert 150 < counts["valid"] < 250 and 150 < counts["test"] < 250
    b = [split_of(i, _recipe(seed=8)) for i in ids]
    assert a != b  # another seed, another split
    assert Counter(split_of(i, _recipe(valid=0.0, test=0.0)) for i in ids) == {"train": 2000}
