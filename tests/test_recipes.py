"""Tests of composer.recipes: parsing, validation messages, bundled recipes, piece references."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer.config import TokenizerSpec
from composer.errors import CorpusError
from composer.recipes import (
    SOURCE_KINDS,
    dir_recipe,
    list_recipes,
    load_recipe,
    piece_refs,
    recipe_from_dict,
)

VALID = """\
name = "mine"
description = "my tunes"

[[sources]]
kind = "dir"
path = "{path}"

[split]
valid = 0.2
test = 0.05
seed = 11

[augment]
transpose = [-2, 3]
pitch_range = [40, 90]

[tokenizer]
kind = "TSD"
beat_res = {{ "0_4" = 4, "4_8" = 2 }}
use_velocities = true
"""


def _write(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _base() -> dict:
    return {"name": "x", "sources": [{"kind": "dir", "path": "."}]}


def test_valid_recipe_file(tmp_path: Path) -> None:
    r = load_recipe(str(_write(tmp_path, VALID.format(path=tmp_path))))
    assert r.name == "mine" and r.description == "my tunes"
    assert r.sources == ({"kind": "dir", "path": str(tmp_path)},)
    assert (r.valid, r.test, r.seed) == (0.2, 0.05, 11)
    assert r.transpose == (-2, 3) and r.aug_pitch_range == (40, 90)
    assert r.tokenizer == TokenizerSpec(
        kind="TSD", beat_res={"0_4": 4, "4_8": 2}, use_velocities=True
    )
    d = r.to_dict()
    assert d["split"] == {"valid": 0.2, "test": 0.05, "seed": 11}
    assert d["tokenizer"]["pitch_range"] == [21, 109]
    assert recipe_from_dict(d) == r  # to_dict is a valid recipe again (it is saved with corpora)


def test_defaults_and_hash() -> None:
    r = recipe_from_dict(_base())
    assert (r.valid, r.test, r.seed, r.transpose) == (0.1, 0.1, 2026, (0, 0))
    assert r.tokenizer == TokenizerSpec()
    assert r.hash == recipe_from_dict(_base()).hash
    assert r.hash != recipe_from_dict({**_base(), "split": {"seed": 1}}).hash
    assert len(r.hash) == 16


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": None}, "missing field 'name'"),
        ({"sources": []}, "no \\[\\[sources\\]\\]"),
        ({"sources": None}, "no \\[\\[sources\\]\\]"),
        ({"sources": [{"kind": "ftp"}]}, "source kind must be one of .*got 'ftp'"),
        ({"sources": [{"path": "x"}]}, "source kind must be one of .*got None"),
        ({"split": {"valid": 0.7}}, "split shares must be in \\[0, 0.5\\], got valid=0.7"),
        ({"split": {"test": -0.1}}, "split shares must be in \\[0, 0.5\\]"),
        ({"split": {"valid": "lots"}}, "could not convert"),
        ({"augment": {"transpose": [3, -3]}}, "augment.transpose must be \\[low, high\\]"),
        ({"augment": {"transpose": [1, 2, 3]}}, "augment.transpose must be \\[low, high\\]"),
        (
            {"tokenizer": {"kind": "Octuple"}},
            "tokenizer kind must be REMI, TSD, MIDILike or SATB, got 'Octuple'",
        ),
        ({"tokenizer": {"pitch_range": [0, 200]}}, "pitch_range must be within 0..127"),
        ({"tokenizer": {"colour": "blue"}}, "unknown tokenizer option\\(s\\): colour"),
    ],
)
def test_bad_recipes_are_corpus_errors(change: dict, message: str) -> None:
    d = {**_base(), **change}
    d = {k: v for k, v in d.items() if v is not None or k == "sources"}
    with pytest.raises(CorpusError, match=message) as info:
        recipe_from_dict(d, origin="bad.toml")
    assert str(info.value).startswith("bad.toml: ")
    assert "\n" not in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    bad = _write(tmp_path, "name = [unclosed", "broken.toml")
    with pytest.raises(CorpusError, match="bad TOML"):
        load_recipe(str(bad))
    missing = _write(tmp_path, '[[sources]]\nkind = "dir"\npath = "."\n', "noname.toml")
    with pytest.raises(CorpusError, match="noname.toml: missing field 'name'"):
        load_recipe(str(missing))
    with pytest.raises(CorpusError, match="no corpus recipe 'nope' \\(bundled: bach-chorales"):
        load_recipe("nope")
    with pytest.raises(CorpusError, match="no corpus recipe"):
        load_recipe(str(tmp_path / "absent.toml"))


def test_bundled_recipes_all_parse() -> None:
    names = list_recipes()
    assert {"bach-chorales", "folk", "palestrina"} <= set(names)
    for name in names:
        r = load_recipe(name)
        assert r.name == name
        assert all(s["kind"] in SOURCE_KINDS for s in r.sources)
        lo, hi = r.aug_pitch_range
        assert r.tokenizer.pitch_range[0] <= lo < hi <= r.tokenizer.pitch_range[1]
    chorales = load_recipe("bach-chorales")
    assert chorales.transpose == (-5, 6) and chorales.seed == 2026
    assert chorales.tokenizer.kind == "REMI" and not chorales.tokenizer.use_velocities


def test_dir_recipe(tmp_path: Path) -> None:
    folder = tmp_path / "My Songs!"
    folder.mkdir()
    r = dir_recipe(folder)
    assert r.name == "My-Songs"
    assert r.sources == ({"kind": "dir", "path": str(folder.resolve())},)
    assert r.tokenizer.use_velocities and r.tokenizer.kind == "REMI"
    assert dir_recipe(folder, name="x", tokenizer="MIDILike").tokenizer.kind == "MIDILike"
    with pytest.raises(CorpusError, match="not a folder"):
        dir_recipe(tmp_path / "missing")
    with pytest.raises(ValueError, match="tokenizer kind"):
        dir_recipe(folder, tokenizer="Octuple")


def test_dir_piece_refs_are_unique_and_recursive(midi_factory) -> None:  # type: ignore[no-untyped-def]
    midi_factory.song("a.mid")
    midi_factory.song("b.MIDI")
    midi_factory.song("sub/a.mid")
    midi_factory.song("sub_a.mid")  # the same id as sub/a.mid once flattened
    midi_factory.raw("readme.txt", b"hello")
    refs = piece_refs(dir_recipe(midi_factory.root))
    ids = [r["id"] for r in refs]
    assert len(ids) == len(set(ids)) == 4
    assert {Path(r["path"]).name for r in refs} == {"a.mid", "b.MIDI", "sub_a.mid"}
    assert "a.mid" in ids and "b.MIDI" in ids
    assert sorted(ids) == sorted(["a.mid", "b.MIDI", "sub_a.mid", "sub_a.mid~1"])
    assert refs == piece_refs(dir_recipe(midi_factory.root))  # deterministic


def test_chorale_refs() -> None:
    refs = piece_refs(load_recipe("bach-chorales"))
    assert len(refs) == 371
    assert refs[0]["id"].startswith("riemenschneider001_bwv")
    assert len({r["id"] for r in refs}) == 371
    present = [r for r in refs if r["path"]]
    assert len(present) >= 360 and all(Path(r["path"]).is_file() for r in present)
