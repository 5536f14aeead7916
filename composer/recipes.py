"""Corpus recipes: a small TOML file naming sources, split, augmentation and tokenizer.

Sources are listed as *piece references* (plain dicts, picklable) so the slow
conversion can run in worker processes, one piece at a time, and be resumed.
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from composer.config import TokenizerSpec
from composer.errors import CorpusError
from composer.midifile import find_midi_files
from composer.paths import recipes_dir

SOURCE_KINDS = ("music21-chorales", "music21-abc", "music21-files", "dir")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


#: What a corpus name may be: it becomes a folder in the cache and a style token.
_CORPUS_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


def check_corpus_name(name: str) -> str:
    """``name`` if it is a safe corpus name (``[A-Za-z0-9._-]``, at most 100, not starting with a dot).

    Raises
    ------
    ValueError
        For anything that could name a path: separators, ``..``, an absolute path, an empty name.
    """
    if not _CORPUS_NAME.fullmatch(name):
        raise ValueError(
            f"corpus name {name!r} must be 1-100 of the characters A-Z a-z 0-9 . _ - (not starting with a dot)"
        )
    return name


@dataclass(frozen=True)
class Recipe:
    """A parsed corpus recipe."""

    name: str  # corpus name; also its style control token
    description: str
    sources: tuple[dict[str, Any], ...]  # each has "kind" and kind-specific keys
    valid: float = 0.1  # share of pieces in the validation split, [0, 0.5]
    test: float = 0.1  # share of pieces in the test split, [0, 0.5]
    seed: int = 2026  # split seed
    transpose: tuple[int, int] = (0, 0)  # training-time transposition range, semitones inclusive
    aug_pitch_range: tuple[int, int] = (0, 127)  # transposed copies must stay inside
    tokenizer: TokenizerSpec = field(default_factory=TokenizerSpec)

    def to_dict(self) -> dict[str, Any]:
        """JSON-native copy (saved in the manifest)."""
        return {
            "name": self.name,
            "description": self.description,
            "sources": [dict(s) for s in self.sources],
            "split": {"valid": self.valid, "test": self.test, "seed": self.seed},
            "augment": {
                "transpose": list(self.transpose),
                "pitch_range": list(self.aug_pitch_range),
            },
            "tokenizer": self.tokenizer.to_dict(),
        }

    @property
    def hash(self) -> str:
        """Hash of the recipe's contents."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def recipe_from_dict(d: dict[str, Any], origin: str = "recipe") -> Recipe:
    """Validate and build a :class:`Recipe` from parsed TOML.

    Raises
    ------
    CorpusError
        Naming the recipe and the problem.
    """
    try:
        name = check_corpus_name(str(d["name"]))
        sources = d.get("sources") or []
        if not sources:
            raise ValueError("no [[sources]]")
        for s in sources:
            if s.get("kind") not in SOURCE_KINDS:
                raise ValueError(f"source kind must be one of {', '.join(SOURCE_KINDS)}, got {s.get('kind')!r}")
        split = d.get("split", {})
        aug = d.get("augment", {})
        valid, test = float(split.get("valid", 0.1)), float(split.get("test", 0.1))
        if not (0 <= valid <= 0.5 and 0 <= test <= 0.5):
            raise ValueError(f"split shares must be in [0, 0.5], got valid={valid} test={test}")
        transpose = tuple(int(x) for x in aug.get("transpose", (0, 0)))
        prange = tuple(int(x) for x in aug.get("pitch_range", (0, 127)))
        if len(transpose) != 2 or transpose[0] > transpose[1]:
            raise ValueError(f"augment.transpose must be [low, high], got {list(transpose)}")
        return Recipe(
            name=name,
            description=str(d.get("description", "")),
            sources=tuple(dict(s) for s in sources),
            valid=valid,
            test=test,
            seed=int(split.get("seed", 2026)),
            transpose=(transpose[0], transpose[1]),
            aug_pitch_range=(prange[0], prange[1]),
            tokenizer=TokenizerSpec.from_dict(d.get("tokenizer", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise CorpusError(f"{origin}: {msg}") from None


def load_recipe(name_or_path: str) -> Recipe:
    """Load a bundled recipe by name (``bach-chorales``) or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = recipes_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(list_recipes()) or "none"
        raise CorpusError(f"no corpus recipe {name_or_path!r} (bundled: {known}; or use --from-dir)")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: bad TOML ({exc})") from None
    return recipe_from_dict(data, str(path))


def list_recipes() -> list[str]:
    """Names of the bundled recipes."""
    return sorted(p.stem for p in recipes_dir().glob("*.toml"))


def dir_corpus_name(folder: str | Path) -> str:
    """The corpus name ``--from-dir FOLDER`` gives without ``--name``: the folder's name, made safe."""
    return _SAFE.sub("-", Path(folder).expanduser().resolve().name).strip("-.")[:100] or "midi"


def dir_recipe(
    folder: str | Path,
    name: str | None = None,
    tokenizer: str = "REMI",
    valid: float = 0.1,
    test: float = 0.1,
) -> Recipe:
    """A recipe for a user's folder of MIDI files (recursive), with velocities kept.

    Raises
    ------
    CorpusError
        For a missing folder, a bad name, a bundled recipe's name (``corpus list`` would mix the
        two), or a split share outside [0, 0.5].
    """
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise CorpusError(f"{folder}: not a folder")
    corpus_name = name or dir_corpus_name(folder)
    try:
        check_corpus_name(corpus_name)
    except ValueError as exc:
        raise CorpusError(f"--name: {exc}") from None
    if corpus_name in list_recipes():
        given = "--name" if name else f"the folder's name ({folder.name})"
        raise CorpusError(
            f"{given}: {corpus_name!r} is a bundled recipe's name; choose another with --name"
        )
    for option, share in (("--valid", valid), ("--test", test)):
        if not 0 <= share <= 0.5:
            raise CorpusError(f"{option} must be in [0, 0.5], got {share}")
    return Recipe(
        name=corpus_name,
        description=f"MIDI files under {folder}",
        sources=({"kind": "dir", "path": str(folder)},),
        valid=valid,
        test=test,
        transpose=(-3, 3),
        aug_pitch_range=(21, 108),
        tokenizer=TokenizerSpec(kind=tokenizer, use_velocities=True, use_tempos=True),
    )


# ---- piece references ------------------------------------------------------------------------
def music21_corpus_dir() -> Path:
    """The folder of music21's bundled corpus."""
    import music21.corpus

    return Path(music21.corpus.__file__).parent


def piece_refs(recipe: Recipe) -> list[dict[str, Any]]:
    """Every piece the recipe names, as picklable dicts with a unique ``id``."""
    refs: list[dict[str, Any]] = []
    for src in recipe.sources:
        kind = src["kind"]
        if kind == "music21-chorales":
            refs += _chorale_refs()
        elif kind == "music21-abc":
            refs += _abc_refs(src.get("paths", []))
        elif kind == "music21-files":
            base = music21_corpus_dir()
            for pattern in src.get("paths", []):
                for p in sorted(glob.glob(str(base / pattern))):
                    rel = Path(p).relative_to(base)
                    refs.append({"id": _SAFE.sub("_", str(rel.with_suffix(""))), "kind": kind, "path": p})
        elif kind == "dir":
            folder = Path(src["path"])
            for midi in find_midi_files(folder):
                rel = midi.relative_to(folder)
                refs.append({"id": _SAFE.sub("_", str(rel)), "kind": kind, "path": str(midi)})
    ids = [r["id"] for r in refs]
    if len(set(ids)) != len(ids):  # de-duplicate ids deterministically
        seen: dict[str, int] = {}
        for r in refs:
            n = seen.get(r["id"], 0)
            seen[r["id"]] = n + 1
            if n:
                r["id"] = f"{r['id']}~{n}"
    return refs


def _chorale_refs() -> list[dict[str, Any]]:
    from music21.corpus.chorales import ChoraleListRKBWV

    base = music21_corpus_dir() / "bach"
    refs = []
    for number, info in sorted(ChoraleListRKBWV().byRiemenschneider.items()):
        bwv = str(info["bwv"])
        matches = [p for ext in (".mxl", ".xml", ".krn") for p in [base / f"bwv{bwv}{ext}"] if p.exists()]
        refs.append(
            {
                "id": f"riemenschneider{int(number):03d}_bwv{bwv}",
                "kind": "music21-chorales",
                "path": str(matches[0]) if matches else "",
                "bwv": bwv,
            }
        )
    return refs


def _abc_refs(patterns: list[str]) -> list[dict[str, Any]]:
    base = music21_corpus_dir()
    refs = []
    for pattern in patterns:
        for p in sorted(glob.glob(str(base / pattern))):
            text = Path(p).read_text(encoding="latin-1")
            header, tunes = _split_abc(text)
            stem = _SAFE.sub("_", str(Path(p).relative_to(base).with_suffix("")))
            for number, tune in tunes:
                refs.append(
                    {"id": f"{stem}_X{number}", "kind": "music21-abc", "path": p, "text": header + tune}
                )
    return refs


def _split_abc(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Split an ABC file into its file header and its tunes (``X:`` blocks)."""
    parts = re.split(r"(?m)^(?=X:)", text)
    header, tunes = parts[0], []
    for part in parts[1:]:
        m = re.match(r"X:\s*(\S+)", part)
        if m:
            tunes.append((_SAFE.sub("_", m.group(1)), part))
    return header, tunes


SPLITS = ("train", "valid", "test")


def _split_point(piece_id: str, recipe: Recipe) -> float:
    """A piece's place in [0, 1): from a hash of its id and the recipe's seed."""
    h = int.from_bytes(hashlib.sha256(f"{recipe.seed}:{piece_id}".encode()).digest()[:8], "big")
    return h / 2**64


def _split_ranges(recipe: Recipe) -> dict[str, tuple[float, float]]:
    """The range of split points of each split: test first, then valid, then train."""
    edge = recipe.test + recipe.valid
    return {"test": (0.0, recipe.test), "valid": (recipe.test, edge), "train": (edge, 1.0)}


def split_of(piece_id: str, recipe: Recipe) -> str:
    """The hash split of one piece: stable, from a hash of its id and the recipe's seed.

    The split a corpus gives its pieces is :func:`assign_splits`'s, which differs from this only
    where a small corpus would leave a split empty.
    """
    u = _split_point(piece_id, recipe)
    return "test" if u < recipe.test else "valid" if u < recipe.test + recipe.valid else "train"


def assign_splits(piece_ids: Iterable[str], recipe: Recipe) -> dict[str, str]:
    """The split of every (usable) piece of a corpus: :func:`split_of`, with a minimum.

    A corpus of 3 or more pieces gets at least one piece in each split whose share is above 0:
    an empty split takes the piece whose split point is nearest its range, from train (or, where
    train has one piece, from the biggest other split); ties go to the smaller id.  A corpus
    whose splits all have pieces keeps :func:`split_of`'s splits exactly.
    """
    point = {pid: _split_point(pid, recipe) for pid in piece_ids}
    split = {pid: split_of(pid, recipe) for pid in point}
    if len(split) < 3:
        return split
    for want in ("valid", "test", "train"):
        lo, hi = _split_ranges(recipe)[want]
        counts = Counter(split.values())
        if hi <= lo or counts[want]:
            continue
        donors = [s for s in SPLITS if s != want and counts[s] >= 2]  # one exists: 3 pieces, 2 splits
        donor = "train" if "train" in donors else max(donors, key=lambda s: (counts[s], s))
        moved = min(
            (pid for pid, s in split.items() if s == donor),
            key=lambda pid: (lo - point[pid] if point[pid] < lo else point[pid] - hi, pid),
        )
        split[moved] = want
    return split
