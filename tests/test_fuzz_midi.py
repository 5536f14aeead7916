"""Fuzzing every command that reads MIDI with hostile and mutated files (issue #7).

Each file goes through ``load_score`` and through ``composer analyze``, ``composer continue``,
``composer evaluate CKPT DIR`` and ``composer corpus build --from-dir`` in-process (CliRunner).
The contract: exit 0, or exit 2 with ONE ``error:`` line naming the file and the problem; never
a traceback, never a hang (each case runs under a SIGALRM deadline), bounded memory.
"""

from __future__ import annotations

import contextlib
import json
import resource
import signal
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _fuzz
import pytest
from helpers import one_line_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from composer.cli import app
from composer.errors import MidiError
from composer.midifile import load_score, pitched_notes

CASES = _fuzz.hostile_cases()
MUTANTS = _fuzz.mutations(_fuzz.valid(24), 600, seed=7)
CASE_SECONDS = 30  # deadline per file and command (generous: the machine is shared)

# Known bugs in modules this file does not own (see docs/reliability.md).
CONTINUE_BUGS: dict[str, str] = {}  # none open (see docs/reliability.md)


class Hang(Exception):
    """A case ran past its deadline."""


@contextlib.contextmanager
def deadline(seconds: int = CASE_SECONDS) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread if the block runs past ``seconds``."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"over {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_outcome(result: Any, name: str) -> str:
    """Assert the CLI contract; return ``"ok"`` or the one error line."""
    out = (result.stdout or "") + (result.stderr or "")
    assert "Traceback" not in out, out
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}") from result.exception
    assert result.exit_code in (0, 2), f"exit {result.exit_code}: {out}"
    if result.exit_code == 0:
        return "ok"
    return one_line_error(result, name)


# Sampling a tiny LSTM is 50x slower with torch's default threads on a busy 2-core box.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every hostile case as ``NAME.mid``."""
    d = tmp_path_factory.mktemp("hostile")
    for name, data in CASES.items():
        (d / f"{name}.mid").write_bytes(data)
    return d


@pytest.fixture(scope="module")
def mutant_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 90 mutations (30 of each kind) as ``KIND_NNN.mid``."""
    d = tmp_path_factory.mktemp("mutants")
    by_kind: dict[str, int] = {}
    for name, data in MUTANTS:
        kind = name.split("_")[0]
        if by_kind.get(kind, 0) < 30:
            by_kind[kind] = by_kind.get(kind, 0) + 1
            (d / f"{name}.mid").write_bytes(data)
    return d


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init tiny checkpoint whose codec is that of a built corpus ``relfuzz``.

    The corpus lives in the session cache (conftest), where ``evaluate`` finds the
    checkpoint's training corpus for its baselines.
    """
    import torch

    from composer.checkpoint import save_checkpoint
    from composer.corpus import build_corpus, load_corpus
    from composer.model import LSTMModel, ModelConfig
    from composer.recipes import dir_recipe

    src = tmp_path_factory.mktemp("relfuzz-src")
    for i in range(6):
        data = _fuzz.smf([_fuzz.track(_fuzz.melody(16 + i, start_pitch=55 + i))], fmt=0)
        (src / f"p{i}.mid").write_bytes(data)
    build_corpus(dir_recipe(src, name="relfuzz"), jobs=1)
    codec = load_corpus("relfuzz").codec
    torch.manual_seed(0)
    model = LSTMModel(ModelConfig(codec.vocab_size, embed_dim=16, hidden_size=32, num_layers=1, dropout=0.0))
    path = tmp_path_factory.mktemp("relfuzz-ckpt") / "tiny.safetensors"
    save_checkpoint(path, model, codec, {"name": "tiny", "corpus": "relfuzz"})
    return path


# ---- the reader itself ---------------------------------------------------------------------------
def test_load_score_hostile_catalogue(hostile_dir: Path) -> None:
    """Each hostile file is parsed or refused with a MidiError naming it, quickly."""
    refused = {}
    for name in CASES:
        path = hostile_dir / f"{name}.mid"
        with deadline(10):
            try:
                pitched_notes(load_score(path))
            except MidiError as exc:
                assert str(path) in str(exc)
                refused[name] = str(exc)
    assert "notes is over the limit of 200000" in refused["midi_bomb_250k_notes"]
    assert "10000 tracks (limit 1024)" in refused["10000_tracks"]
    assert "10000 tracks (limit 1024)" in refused["10000_tracks_header_says_2"]
    assert "beats long" in refused["giant_delta"]
    assert "0 ticks per quarter" in refused["tpq_0"]
    assert len(refused) >= 25, sorted(set(CASES) - set(refused))


@pytest.mark.slow
def test_load_score_600_mutations(tmp_path: Path) -> None:
    """600 seeded truncations, bit flips and splices: a Score or a MidiError, never anything else."""
    path = tmp_path / "m.mid"
    outcomes = {"ok": 0, "refused": 0}
    start = time.monotonic()
    for _, data in MUTANTS:
        path.write_bytes(data)
        with deadline(10):
            try:
                pitched_notes(load_score(path))
                outcomes["ok"] += 1
            except MidiError as exc:
                assert str(path) in str(exc)
                outcomes["refused"] += 1
    assert sum(outcomes.values()) == 600
    assert outcomes["refused"] > 100 and outcomes["ok"] > 50, outcomes
    assert time.monotonic() - start < 60


def test_load_score_limits_are_parameters(hostile_dir: Path) -> None:
    """The MIDI bomb loads when max_notes is raised, and memory stays bounded by the file size."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    score = load_score(hostile_dir / "midi_bomb_250k_notes.mid", max_notes=300_000)
    assert sum(len(t.notes) for t in score.tracks) == 250_000
    with pytest.raises(MidiError, match="bytes is over the limit"):
        load_score(hostile_dir / "midi_bomb_250k_notes.mid", max_bytes=1000)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 500


@st.composite
def _event_files(draw: st.DrawFn) -> bytes:
    """Structurally plausible files: random events, deltas, status bytes and header fields."""
    n = draw(st.integers(0, 40))
    events = []
    for _ in range(n):
        delta = draw(st.one_of(st.integers(0, 960), st.integers(0, 0x0FFFFFFF)))
        status = draw(st.sampled_from([0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xE0, 0xFF, 0x3C]))
        ch = draw(st.integers(0, 15))
        if status == 0xFF:
            meta = draw(st.sampled_from([0x51, 0x58, 0x59, 0x2F, 0x01, 0x03]))
            body = draw(st.binary(max_size=6))
            events.append((delta, bytes([0xFF, meta]) + _fuzz.vlq(len(body)) + body))
        elif status == 0x3C:  # a data byte where a status belongs (running status)
            events.append((delta, bytes([0x3C, draw(st.integers(0, 127))])))
        else:
            width = 1 if status == 0xC0 else 2
            data = bytes(draw(st.integers(0, 127)) for _ in range(width))
            events.append((delta, bytes([status | ch]) + data))
    fmt = draw(st.integers(0, 3))
    tpq = draw(st.sampled_from([0, 1, 24, 480, 0x7FFF, 0x8000 | 25 << 8 | 40]))
    ntracks = draw(st.integers(1, 3))
    return _fuzz.smf([_fuzz.track(events, end=draw(st.booleans()))] * ntracks, fmt=fmt, tpq=tpq)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_event_files())
def test_load_score_hypothesis(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "h.mid"
    path.write_bytes(data)
    with deadline(10):
        try:
            pitched_notes(load_score(path))
        except MidiError as exc:
            assert str(path) in str(exc)


# ---- every command that reads MIDI --------------------------------------------------------------
#: Cases that take seconds, not milliseconds: out of the fast lane (`-m "not slow"`), still in CI.
#: (None now: the 90,000-beat silence, 9 s of Viterbi before, is refused by the analysis beat limit.)
SLOW_CASES: set[str] = set()


def _cases() -> list[Any]:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CASES else n for n in sorted(CASES)]


@pytest.mark.parametrize("name", _cases())
def test_analyze_hostile(runner: CliRunner, hostile_dir: Path, name: str) -> None:
    path = hostile_dir / f"{name}.mid"
    with deadline():
        result = runner.invoke(app, ["analyze", str(path), "--json"])
    check_outcome(result, str(path))


def _continue_params() -> list[Any]:
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=CONTINUE_BUGS[n]))
        if n in CONTINUE_BUGS
        else n
        for n in sorted(CASES)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", _continue_params())
def test_continue_hostile(
    runner: CliRunner, hostile_dir: Path, tiny_model: Path, tmp_path: Path, name: str
) -> None:
    path = hostile_dir / f"{name}.mid"
    args = ["continue", str(path), "-m", str(tiny_model), "--bars", "1", "--seed", "1", "--fp32"]
    with deadline():
        result = runner.invoke(app, [*args, "-o", str(tmp_path / "out")])
    check_outcome(result, str(path) if name != "long_silence_90k_beats" else "bars must be")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluate_hostile(
    runner: CliRunner, hostile_dir: Path, tiny_model: Path, tmp_path: Path, name: str
) -> None:
    """A folder holding one hostile file: scored (exit 0) or refused (exit 2, folder named)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.mid").write_bytes(CASES[name])
    with deadline():
        result = runner.invoke(app, ["evaluate", str(tiny_model), str(folder), "--json"])
    check_outcome(result, str(folder))
    if result.exit_code == 0:
        assert json.loads(result.stdout)["pieces"] == 1


def test_evaluate_names_the_bad_file(runner: CliRunner, tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "bomb.mid").write_bytes(CASES["midi_bomb_250k_notes"])
    result = runner.invoke(app, ["evaluate", str(tiny_model), str(tmp_path)])
    line = check_outcome(result, str(tmp_path))
    assert "bomb.mid" in line and "limit" in line


def test_corpus_build_hostile_dir(runner: CliRunner, hostile_dir: Path, mutant_dir: Path,
                                  tmp_path: Path) -> None:
    """All hostile files and 90 mutations in one folder: the build succeeds and skips, with a warning."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in [*hostile_dir.iterdir(), *mutant_dir.iterdir()]:
        (folder / p.name).write_bytes(p.read_bytes())
    n_files = len(list(folder.iterdir()))
    cache = tmp_path / "cache"
    with deadline(240):
        result = runner.invoke(app, ["corpus", "build", "--from-dir", str(folder), "--cache-dir",
                                     str(cache), "-j", "1", "--name", "mixed"])
    check_outcome(result, "")
    assert result.exit_code == 0
    assert "warning: skipped" in result.stderr
    m = json.loads((cache / "corpora" / "mixed" / "manifest.json").read_text())
    assert m["totals"]["pieces"] + m["totals"]["skipped"] == n_files
    reasons = {s["id"]: s["reason"] for s in m["skipped"]}
    assert all(reasons.values())
    bomb = next(r for i, r in reasons.items() if "midi_bomb" in i)
    assert "over the limit" in bomb
    assert m["totals"]["pieces"] >= 20


@pytest.mark.slow
def test_mutants_through_analyze_and_continue(runner: CliRunner, mutant_dir: Path, tiny_model: Path,
                                              tmp_path: Path) -> None:
    """90 mutants through analyze, 30 through continue: only exit 0 or one-line exit 2."""
    counts = {"analyze": {"ok": 0, "refused": 0}, "continue": {"ok": 0, "refused": 0}}
    files = sorted(mutant_dir.iterdir())
    for i, path in enumerate(files):
        with deadline():
            r = runner.invoke(app, ["analyze", str(path), "--json"])
        counts["analyze"]["ok" if check_outcome(r, str(path)) == "ok" else "refused"] += 1
        if i % 3 == 0:
            with deadline():
                r = runner.invoke(app, ["continue", str(path), "-m", str(tiny_model), "--bars", "1",
                                        "--seed", "0", "--fp32", "-o", str(tmp_path / "o")])
            counts["continue"]["ok" if check_outcome(r, str(path)) == "ok" else "refused"] += 1
    assert sum(counts["analyze"].values()) == 90 and sum(counts["continue"].values()) == 30
    assert counts["analyze"]["refused"] > 0 and counts["analyze"]["ok"] > 0, counts


def test_mutants_through_evaluate(runner: CliRunner, mutant_dir: Path, tiny_model: Path) -> None:
    """A folder of 90 mutants: evaluated, the unreadable ones counted as skipped."""
    with deadline(120):
        r = runner.invoke(app, ["evaluate", str(tiny_model), str(mutant_dir), "--json"])
    check_outcome(r, str(mutant_dir))
    rep = json.loads(r.stdout)
    assert rep["pieces"] + rep["skipped"] == 90 and rep["skipped"] > 0


@pytest.mark.slow
def test_max_notes_option_raises_the_limit(runner: CliRunner, hostile_dir: Path) -> None:
    """Raised past the bomb, the limit lets it through, and analysis stays near-linear (seconds)."""
    path = hostile_dir / "midi_bomb_250k_notes.mid"
    with deadline(120):
        result = runner.invoke(app, ["analyze", str(path), "--max-notes", "300000", "--json"])
    assert result.exit_code == 0, result.stderr
    voices = json.loads(result.stdout)["voices"]
    assert sum(voices["notes_per_voice"]) + voices["dropped_notes"] == 250_000


def test_bomb_near_the_size_limit_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """A 30 MB file of 5 million notes (just under the byte limit) is refused by the note limit."""
    n = 5_000_000
    body = bytearray(b"\x00\x90\x3c\x40\x01\x3c\x00") + b"\x00\x3c\x40\x01\x3c\x00" * (n - 1)
    body += b"\x00\xff\x2f\x00"
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body
    path = tmp_path / "big_bomb.mid"
    path.write_bytes(bytes(data))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with deadline(60), pytest.raises(MidiError, match="notes is over the limit"):
        load_score(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 1024, grown_mb
