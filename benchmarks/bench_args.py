"""Command-line pieces the benchmark scripts share.

* :func:`add_options` / :func:`options_of`: ``--options JSON``, ``SampleOptions`` fields over a script's defaults
  (``bench_chorales.py``, ``bench_sample.py``, the calibration scripts), read with a one-line error for bad JSON
  or a field ``SampleOptions`` does not have;
* :func:`calibration_parser` / :func:`calibration_options`: the fixed-point calibration scripts' common block
  (``chorale_bass.py``, ``chorale_onsets.py``, ``chorale_phrases.py``): ``-n``, ``--bars``, ``--options``,
  ``--table``, ``--fit``, ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any


def add_options(ap: argparse.ArgumentParser, example: str = '{"phrase_rewinds": 0}') -> None:
    """Add ``--options JSON`` to ``ap``."""
    ap.add_argument("--options", default="{}", metavar="JSON",
                    help=f"SampleOptions fields over the script's defaults, e.g. '{example}'")


def options_of(ap: argparse.ArgumentParser, text: str) -> dict[str, Any]:
    """The fields of ``--options`` (``ap.error``, exit 2: bad JSON, not an object, an unknown field, a bad value)."""
    from composer.config import SampleOptions

    try:
        fields = json.loads(text)
    except json.JSONDecodeError as e:
        ap.error(f"--options is not JSON ({e.msg} at character {e.pos}): {text}")
    if not isinstance(fields, dict):
        ap.error(f"--options must be a JSON object of SampleOptions fields, got {text}")
    known = {f.name for f in dataclasses.fields(SampleOptions)}
    if unknown := sorted(set(fields) - known):
        ap.error(f"--options: SampleOptions has no field {', '.join(unknown)}")
    try:
        SampleOptions(**fields)
    except (TypeError, ValueError) as e:
        ap.error(f"--options: {e}")
    return fields


def calibration_parser(doc: str | None, table_help: str, example: str,
                       fit_help: str = "print one fixed-point step of the table") -> argparse.ArgumentParser:
    """The calibration scripts' parser: ``-n`` pieces of ``--bars`` bars, ``--options``, ``--table``, ``--fit``,
    ``--out``."""
    ap = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    ap.add_argument("-n", type=int, default=192, help="pieces sampled (one draw each)")
    ap.add_argument("--bars", type=int, default=16)
    add_options(ap, example)
    ap.add_argument("--table", help=table_help)
    ap.add_argument("--fit", action="store_true", help=fit_help)
    ap.add_argument("--out", type=Path)
    return ap


def calibration_options(ap: argparse.ArgumentParser, args: argparse.Namespace) -> Any:
    """The ``SampleOptions`` a calibration script samples with: ``composer generate``'s top-p, then ``--options``."""
    from composer.cli.options import FILE_TOP_P
    from composer.config import SampleOptions

    return SampleOptions(**{"top_p": FILE_TOP_P, **options_of(ap, args.options)})


__all__ = ["add_options", "calibration_options", "calibration_parser", "options_of"]
