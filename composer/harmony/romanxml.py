"""The Roman-numeral analysis as a MusicXML score: the voices, numerals as lyrics.

music21 is imported inside the functions.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from composer.errors import OutputError
from composer.files import refuse_overwrite, write_bytes_atomic
from composer.harmony.analysis import Analysis
from composer.harmony.keyfinding import m21_key, short_key_name


def _q(x: float) -> Fraction:
    """Round a beat value to a 1/12 grid (sixteenths and triplets) for notation."""
    return Fraction(round(x * 12), 12)


def roman_score(analysis: Analysis) -> Any:
    """Build a music21 ``Score`` of the analyzed voices with the Roman numerals as lyrics.

    Each chord change gets its numeral (prefixed by the key, as ``"f#: i"``, where
    the local key changes) on the lowest voice that starts a note there.
    """
    from music21 import meter, note, stream

    piece = analysis.piece
    score = stream.Score()
    pad = Fraction(0)
    bar = piece.numerator * 4.0 / piece.denominator
    if piece.first_bar == 0 and len(piece.bar_starts) > 1:
        pad = _q(bar - piece.bar_starts[1])  # fill the pickup bar with a rest
    parts = []
    for name, voice in zip(analysis.voices.names, piece.voices, strict=True):
        part = stream.Part(id=name)
        part.partName = name
        part.insert(0, meter.TimeSignature(f"{piece.numerator}/{piece.denominator}"))
        part.insert(0, m21_key(analysis.key.name))
        for n in voice:
            start, dur = _q(n.start) + pad, max(_q(n.duration), Fraction(1, 12))
            m21 = note.Note(n.pitch, quarterLength=dur)
            part.insert(start, m21)
        parts.append(part)
    labels = [(c.offset, c.roman, c.key) for c in analysis.chords]
    last_key = None
    last_label = None
    for t, roman, k in labels:
        if (roman, k) == last_label:
            continue
        last_label = (roman, k)
        text = roman if k == last_key else f"{short_key_name(k)}: {roman}"
        last_key = k
        at = _q(t) + pad
        for part in reversed(parts):
            hits = [n for n in part.getElementsByOffset(at, at) if isinstance(n, note.Note)]
            if hits:
                hits[0].addLyric(text)
                break
    for part in parts:
        part.makeRests(fillGaps=True, inPlace=True)
        part.makeMeasures(inPlace=True)
        part.makeTies(inPlace=True)
        measures = list(part.getElementsByClass(stream.Measure))
        for i, m in enumerate(measures):
            m.number = piece.first_bar + i if pad else i + 1
        score.insert(0, part)
    return score


def write_roman(analysis: Analysis, path: str | Path, *, force: bool = False) -> Path:
    """Write the Roman-numeral analysis as MusicXML (atomically, no overwrite unless ``force``).

    Raises
    ------
    OutputError
        If the file exists and ``force`` is false, or cannot be written.
    """
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    path = Path(path)
    refuse_overwrite(path, force)
    try:
        data = GeneralObjectExporter(roman_score(analysis)).parse()
    except Exception as exc:  # music21 export errors are not ComposerErrors
        raise OutputError(
            f"cannot build MusicXML for {path}: {type(exc).__name__}: {exc}"
        ) from None
    return write_bytes_atomic(bytes(data), path, force=force)
