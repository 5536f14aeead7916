"""A corpus built from a folder of MIDI files: the split's minimum, changed files, nothing usable,
bundled names, the hints that name ``--from-dir`` and the listing of skipped files."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import one_line_error
from typer.testing import CliRunner

from composer.cli import app
from composer.corpus import build_corpus, corpus_stats, load_corpus
from composer.errors import CorpusError, InputError
from composer.recipes import Recipe, assign_splits, dir_recipe, split_of

WIDE = {"COLUMNS": "200", "NO_COLOR": "1"}
GOOD = ["good.mid", "other.midi", "sub_deeper_nested.mid"]  # the good files of messy_midi_dir


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _recipe(seed: int = 2026, valid: float = 0.1, test: float = 0.1) -> Recipe:
    return Recipe(name="r", description="", sources=({"kind": "dir", "path": "."},), valid=valid, test=test, seed=seed)


def _point(piece_id: str, seed: int) -> float:
    """The split rule's hash point, written out again (the rule is part of the manifest's contract)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{piece_id}".encode()).digest()[:8], "big") / 2**64


# ---- the split's minimum -----------------------------------------------------------------------
def test_a_small_folder_gets_a_validation_and_a_test_piece(messy_midi_dir: Path, tmp_path: Path) -> None:
    recipe = dir_recipe(messy_midi_dir, name="messy")
    assert {split_of(i, recipe) for i in GOOD} == {"train"}  # the hash alone leaves valid and test empty
    manifest = build_corpus(recipe, root=tmp_path, jobs=1)
    assert manifest["splits"] == {"train": 1, "valid": 1, "test": 1}
    corpus = load_corpus("messy", tmp_path)
    assert len(corpus.pieces("valid")) == len(corpus.pieces("test")) == 1
    # the piece nearest valid's range went to valid, the next to test
    order = sorted(GOOD, key=lambda i: _point(i, recipe.seed))
    assert [p["split"] for p in sorted(manifest["pieces"], key=lambda p: order.index(p["id"]))] == [
        "valid", "test", "train"]


@pytest.mark.parametrize("seed", [1, 7, 2026])
def test_every_split_has_a_piece_from_three_pieces_on(seed: int) -> None:
    recipe = _recipe(seed)
    for n in range(1, 40):
        ids = [f"song{i:03d}.mid" for i in range(n)]
        split = assign_splits(ids, recipe)
        counts = Counter(split.values())
        hashed = {i: split_of(i, recipe) for i in ids}
        moved = [i for i in ids if split[i] != hashed[i]]
        if n < 3:
            assert split == hashed
            continue
        assert all(counts[s] >= 1 for s in ("train", "valid", "test")), (n, counts)
        assert len(moved) <= 2
        if all(Counter(hashed.values())[s] for s in ("train", "valid", "test")):
            assert not moved  # splits that all have pieces are kept exactly
        assert assign_splits(list(reversed(ids)), recipe) == split  # order does not matter


def test_large_corpora_keep_the_hash_split_and_zero_shares_stay_empty() -> None:
    ids = [f"piece{i:04d}" for i in range(2000)]
    recipe = _recipe(7)
    assert assign_splits(ids, recipe) == {i: split_of(i, recipe) for i in ids}
    no_valid = assign_splits(ids[:5], _recipe(7, valid=0.0))
    assert "valid" not in no_valid.values() and "test" in no_valid.values()
    assert set(assign_splits(ids[:5], _recipe(7, valid=0.0, test=0.0)).values()) == {"train"}
    # no train share: train stays empty, valid and test both get pieces
    assert set(assign_splits(ids[:5], _recipe(7, valid=0.5, test=0.5)).values()) == {"valid", "test"}


def test_from_dir_split_shares(messy_midi_dir: Path, tmp_path: Path, runner: CliRunner) -> None:
    r = dir_recipe(messy_midi_dir, name="messy", valid=0.3, test=0.25)
    assert (r.valid, r.test) == (0.3, 0.25)
    with pytest.raises(CorpusError, match=r"--valid must be in \[0, 0.5\], got 0.7"):
        dir_recipe(messy_midi_dir, valid=0.7)
    args = ["corpus", "build", "--from-dir", str(messy_midi_dir), "--name", "messy", "--cache-dir", str(tmp_path)]
    ok = runner.invoke(app, [*args, "--valid", "0.2", "--test", "0.3", "-j", "1"], env=WIDE)
    assert ok.exit_code == 0, ok.output
    recipe = json.loads((tmp_path / "corpora" / "messy" / "recipe.json").read_text())
    assert recipe["split"] == {"valid": 0.2, "test": 0.3, "seed": 2026}
    one_line_error(runner.invoke(app, [*args, "--test", "0.6"], env=WIDE), "--test must be in [0, 0.5]")
    one_line_error(runner.invoke(app, ["corpus", "build", "bach-chorales", "--valid", "0.2"], env=WIDE),
                   "--valid and --test go with --from-dir")


# ---- changed files -----------------------------------------------------------------------------
def test_a_changed_file_is_tokenized_again(midi_factory: Any, tmp_path: Path) -> None:
    midi_factory.song("a.mid")
    midi_factory.song("b.mid", [(67, 0.0, 1.0), (69, 1.0, 1.0)])
    midi_factory.raw("c.mid", b"not yet a MIDI file")
    recipe = dir_recipe(midi_factory.root, name="songs")
    first = build_corpus(recipe, root=tmp_path, jobs=1)
    old_tokens = load_corpus("songs", tmp_path).tokens("a.mid")
    assert first["totals"]["skipped"] == 1

    calls: list[tuple[int, int]] = []
    assert build_corpus(recipe, root=tmp_path, jobs=1, progress=lambda d, n: calls.append((d, n))) == first
    assert calls == [(3, 3)]  # unchanged: nothing converted again

    midi_factory.song("a.mid", [(60 + i, i * 0.5, 0.5) for i in range(24)])  # same name, new contents
    midi_factory.song("c.mid", [(72, 0.0, 2.0)])  # the bad file, mended
    calls.clear()
    second = build_corpus(recipe, root=tmp_path, jobs=1, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]  # a.mid and c.mid converted again, b.mid kept
    by_id = {p["id"]: p for p in second["pieces"]}
    assert by_id["a.mid"]["notes"] == 24 and by_id["c.mid"]["notes"] == 1 and not second["skipped"]
    corpus = load_corpus("songs", tmp_path)
    fresh = build_corpus(recipe, root=tmp_path / "fresh", jobs=1)
    assert fresh == second  # the same as a build from scratch
    assert not np.array_equal(corpus.tokens("a.mid"), old_tokens)
    assert np.array_equal(corpus.tokens("a.mid"), load_corpus("songs", tmp_path / "fresh").tokens("a.mid"))


# ---- nothing usable ----------------------------------------------------------------------------
def test_a_folder_with_nothing_usable_is_an_input_error(midi_factory: Any, tmp_path: Path) -> None:
    midi_factory.song("tune.mid")
    recipe = dir_recipe(midi_factory.root, name="bad")
    build_corpus(recipe, root=tmp_path, jobs=1)
    (midi_factory.root / "tune.mid").write_bytes(b"")
    midi_factory.raw("junk.mid", b"hello")
    midi_factory.song("silent.mid", [])
    with pytest.raises(CorpusError, match=r"no usable MIDI file; all 3 skipped \((.+: 1(, )?){3}\)$") as err:
        build_corpus(recipe, root=tmp_path, jobs=1)
    assert isinstance(err.value, InputError)
    for reason in ("empty file", "not a MIDI file", "no notes"):
        assert reason in str(err.value)
    with pytest.raises(CorpusError, match="not built"):  # the older build's manifest is gone
        load_corpus("bad", tmp_path)


def test_cli_nothing_usable_and_empty_folder(runner: CliRunner, midi_factory: Any, tmp_path: Path) -> None:
    midi_factory.raw("only/junk.mid", b"hello")
    midi_factory.raw("only/zero.mid", b"")
    (midi_factory.root / "empty").mkdir()
    cache = ["--cache-dir", str(tmp_path)]
    r = runner.invoke(app, ["corpus", "build", "--from-dir", str(midi_factory.root / "only"), "--name", "x", *cache])
    one_line_error(r, "no usable MIDI file; all 2 skipped (", "not a MIDI file: 1", "empty file: 1")
    assert r.stderr.startswith("error: ")  # no stray blank line first
    r = runner.invoke(app, ["corpus", "build", "--from-dir", str(midi_factory.root / "empty"), *cache])
    line = one_line_error(r, "empty: no .mid/.midi files")
    assert "recipe" not in line and r.stderr.startswith("error: ")


# ---- names and hints ---------------------------------------------------------------------------
def test_a_bundled_recipe_name_is_refused(runner: CliRunner, messy_midi_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="'folk' is a bundled recipe's name; choose another with --name"):
        dir_recipe(messy_midi_dir, name="folk")
    (tmp_path / "bach-chorales").mkdir()
    with pytest.raises(CorpusError, match=r"the folder's name \(bach-chorales\): 'bach-chorales' is a bundled"):
        dir_recipe(tmp_path / "bach-chorales")
    r = runner.invoke(app, ["corpus", "build", "--from-dir", str(messy_midi_dir), "--name", "folk",
                            "--cache-dir", str(tmp_path / "cache")], env=WIDE)
    one_line_error(r, "--name: 'folk' is a bundled recipe's name")
    assert not (tmp_path / "cache" / "corpora" / "folk").exists()


def test_hints_name_from_dir_for_a_folder(
    runner: CliRunner, messy_midi_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(messy_midi_dir.parent)
    name = messy_midi_dir.name
    cache = ["--cache-dir", str(tmp_path)]
    r = runner.invoke(app, ["corpus", "stats", name, *cache], env=WIDE)
    line = one_line_error(r, f"run: composer corpus build --from-dir {name}")
    assert line.endswith(f"--from-dir {name}")
    r = runner.invoke(app, ["train", name, "-o", str(tmp_path / "run"), *cache], env=WIDE)
    one_line_error(r, f"run: composer corpus build --from-dir {name}")
    spaced = tmp_path / "My Songs"
    spaced.mkdir()
    with pytest.raises(CorpusError, match=r"--from-dir '.*My Songs', then use the corpus name 'My-Songs'$"):
        load_corpus(str(spaced), tmp_path / "corpora")
    # a name that is no folder: a recipe's keeps the recipe hint, any other says what there is
    one_line_error(runner.invoke(app, ["corpus", "stats", "folk", *cache], env=WIDE), "run: composer corpus build folk")
    one_line_error(runner.invoke(app, ["corpus", "stats", "nosuch", *cache], env=WIDE),
                   "is no recipe or folder (recipes: ", "composer corpus build --from-dir DIR")


def test_stats_lists_the_skipped_files(runner: CliRunner, messy_midi_dir: Path, tmp_path: Path) -> None:
    build_corpus(dir_recipe(messy_midi_dir, name="messy"), root=tmp_path / "corpora", jobs=1)
    s = corpus_stats(load_corpus("messy", tmp_path / "corpora"))
    files = {f["id"]: f for f in s["skipped_files"]}
    assert set(files) == {"corrupt.mid", "empty.mid", "drums.mid", "zero.mid", "sub_truncated.mid"}
    assert files["sub_truncated.mid"]["source"] == str(messy_midi_dir.resolve() / "sub" / "truncated.mid")
    assert files["drums.mid"]["reason"] == "drum-only file"
    r = runner.invoke(app, ["corpus", "stats", "messy", "--cache-dir", str(tmp_path)], env=WIDE)
    assert r.exit_code == 0, r.output
    assert "skipped files" in r.stdout
    for f in files.values():
        assert any(f["source"] in line and f["reason"] in line for line in r.stdout.splitlines()), f
    r = runner.invoke(app, ["corpus", "stats", "messy", "--json", "--cache-dir", str(tmp_path)], env=WIDE)
    assert json.loads(r.stdout)["skipped_files"] == s["skipped_files"]
