"""The `composer corpus` commands and the CLI entry points, via CliRunner and as processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import one_line_error
from typer.testing import CliRunner

from composer import __version__
from composer.cli import app

ROOT = Path(__file__).resolve().parents[1]
WIDE = {"COLUMNS": "200", "NO_COLOR": "1"}  # rich tables unwrapped, no colour codes


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_version_and_help(runner: CliRunner) -> None:
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"composer {__version__}"
    r = runner.invoke(app, ["--help"], env=WIDE)
    assert r.exit_code == 0
    assert "corpus" in r.stdout and "Compose music" in r.stdout
    r = runner.invoke(app, ["corpus", "--help"], env=WIDE)
    assert r.exit_code == 0
    for command in ("build", "list", "stats"):
        assert command in r.stdout
    r = runner.invoke(app, ["corpus", "build", "--help"], env=WIDE)
    assert r.exit_code == 0 and "--from-dir" in r.stdout and "--cache-dir" in r.stdout


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of a click group, as the words that name it."""
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


@pytest.mark.slow
def test_every_command_help_shows_an_example(runner: CliRunner) -> None:
    import typer.main

    commands = _commands(typer.main.get_command(app))
    assert ("generate",) in commands and ("corpus", "build") in commands and len(commands) >= 14
    for words in commands:
        r = runner.invoke(app, [*words, "--help"], env=WIDE)
        assert r.exit_code == 0, words
        assert "Example: composer " + words[0] in r.stdout, f"composer {' '.join(words)} --help has no example"


def test_build_from_dir_skips_bad_files_and_warns(
    runner: CliRunner, messy_midi_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    args = ["corpus", "build", "--from-dir", str(messy_midi_dir), "--name", "messy"]
    r = runner.invoke(app, [*args, "--cache-dir", str(cache), "-j", "2"], env=WIDE)
    assert r.exit_code == 0, r.output
    assert "messy: 3 pieces" in r.stdout and "skipped 5" in r.stdout
    warning = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and "skipped 5 file(s)" in warning[0]
    for reason in ("empty file: 1", "drum-only file: 1", "no notes: 1", "not a MIDI file: 1"):
        assert reason in warning[0]
    manifest = json.loads((cache / "corpora" / "messy" / "manifest.json").read_text())
    for skipped in manifest["skipped"][:3]:  # the first few are named (issue 12), the rest counted
        assert f"{skipped['id']}: {skipped['reason']}" in warning[0]
    assert f"and 2 more (see composer corpus stats messy --cache-dir {cache})" in warning[0]
    assert manifest["totals"]["pieces"] == 3 and manifest["totals"]["skipped"] == 5

    # Again: resumes (nothing to convert) and reports the same corpus.
    again = runner.invoke(app, [*args, "--cache-dir", str(cache)], env=WIDE)
    assert again.exit_code == 0 and "messy: 3 pieces" in again.stdout
    assert json.loads((cache / "corpora" / "messy" / "manifest.json").read_text()) == manifest


def test_build_without_cache_dir_uses_the_session_cache(
    runner: CliRunner, midi_factory: Any
) -> None:
    midi_factory.song("tune.mid")
    r = runner.invoke(
        app, ["corpus", "build", "--from-dir", str(midi_factory.root), "--name", "tune"]
    )
    assert r.exit_code == 0, r.output
    cache = Path(os.environ["COMPOSER_CACHE_DIR"])  # set by conftest: never the user's cache
    assert (cache / "corpora" / "tune" / "manifest.json").exists()
    assert "warning" not in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["corpus", "build", "no-such-recipe"], "no corpus recipe 'no-such-recipe'"),
        (["corpus", "build"], "give a recipe NAME or --from-dir PATH"),
        (["corpus", "build", "bach-chorales", "--from-dir", "."], "one of them"),
        (["corpus", "build", "--from-dir", "/no/such/folder"], "not a folder"),
        (["corpus", "build", "--from-dir", ".", "--tokenizer", "BPE"], "--tokenizer must be"),
        (["corpus", "build", "--from-dir", ".", "-j", "0"], "--jobs must be >= 1"),
        (["corpus", "stats", "no-such-corpus"], "is not built and is no recipe or folder (recipes: bach-chorales"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    r = runner.invoke(app, [*args, "--cache-dir", str(tmp_path)], env=WIDE)
    one_line_error(r, message)
    assert not (tmp_path / "no-such-recipe").exists()


def test_list_shows_bundled_and_built(
    runner: CliRunner, messy_midi_dir: Path, tmp_path: Path
) -> None:
    r = runner.invoke(app, ["corpus", "list", "--cache-dir", str(tmp_path)], env=WIDE)
    assert r.exit_code == 0, r.output
    rows = {
        line.split("│")[1].strip(): line for line in r.stdout.splitlines() if line.count("│") > 3
    }
    assert {"bach-chorales", "folk", "palestrina"} <= set(rows)
    assert "bundled" in rows["bach-chorales"] and " no " in rows["bach-chorales"]

    build = ["corpus", "build", "--from-dir", str(messy_midi_dir), "--name", "messy", "-j", "1"]
    assert runner.invoke(app, [*build, "--cache-dir", str(tmp_path)]).exit_code == 0
    r = runner.invoke(app, ["corpus", "list", "--cache-dir", str(tmp_path)], env=WIDE)
    rows = {
        line.split("│")[1].strip(): line for line in r.stdout.splitlines() if line.count("│") > 3
    }
    cells = [c.strip() for c in rows["messy"].split("│")[1:-1]]
    assert cells[:4] == ["messy", "-", "yes", "3"]
    tokens = json.loads((tmp_path / "corpora" / "messy" / "manifest.json").read_text())["totals"]["tokens"]
    assert cells[4] == f"{tokens:,}"


@pytest.mark.slow
def test_stats_of_the_chorales(runner: CliRunner, chorales_corpus: Any, corpora_root: Path) -> None:
    r = runner.invoke(
        app, ["corpus", "stats", "bach-chorales", "--cache-dir", str(corpora_root.parent)], env=WIDE
    )
    assert r.exit_code == 0, r.output
    n = len(chorales_corpus.pieces())
    splits = chorales_corpus.manifest["splits"]
    assert (
        f"{n} (train {splits['train']}, valid {splits['valid']}, test {splits['test']})" in r.stdout
    )
    assert "corpus bach-chorales" in r.stdout and "key distribution" in r.stdout
    assert "length histogram" in r.stdout and "G major" in r.stdout
    assert f"vocabulary {chorales_corpus.codec.vocab_size}" in r.stdout

    r = runner.invoke(
        app, ["corpus", "stats", "bach-chorales", "--cache-dir", str(corpora_root.parent), "--json"]
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["name"] == "bach-chorales" and s["pieces"] == n
    assert s["splits"] == splits
    assert s["tokens"] == chorales_corpus.manifest["totals"]["tokens"]

    # A corpus can also be named by its folder.
    r = runner.invoke(app, ["corpus", "stats", str(chorales_corpus.root), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["pieces"] == n


# ---- real processes ----------------------------------------------------------------------------
def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
def test_python_m_composer_corpus_stats(chorales_corpus: Any, corpora_root: Path) -> None:
    p = _run(
        sys.executable,
        "-m",
        "composer",
        "corpus",
        "stats",
        "bach-chorales",
        "--cache-dir",
        str(corpora_root.parent),
        "--json",
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["pieces"] == len(chorales_corpus.pieces())
    p = _run(
        sys.executable,
        "-m",
        "composer",
        "corpus",
        "stats",
        "bach-chorales",
        "--cache-dir",
        str(corpora_root.parent),
        env=WIDE,
    )
    assert p.returncode == 0, p.stderr
    assert "key distribution" in p.stdout
    p = _run(
        sys.executable,
        "-m",
        "composer",
        "corpus",
        "stats",
        "absent",
        "--cache-dir",
        str(corpora_root.parent),
    )
    one_line_error(p, "absent")
    assert p.stdout == ""


def test_console_script_help() -> None:
    exe = Path(sys.executable).parent / "composer"
    script = str(exe) if exe.exists() else shutil.which("composer")
    assert script, "the composer console script is not installed (pip install -e .)"
    p = _run(script, "--help", env=WIDE)
    assert p.returncode == 0, p.stderr
    assert "Usage" in p.stdout and "corpus" in p.stdout
    p = _run(script, "--version")
    assert p.returncode == 0 and p.stdout.strip() == f"composer {__version__}"


def test_cli_import_stays_light() -> None:
    """``composer --help`` is fast because the CLI imports no heavy library up front."""
    code = (
        "import composer.cli, sys; "
        "print('torch' in sys.modules, 'music21' in sys.modules, 'miditok' in sys.modules)"
    )
    p = _run(sys.executable, "-c", code)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["False", "False", "False"]
