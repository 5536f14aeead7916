"""The Roman-numeral analysis as a MusicXML score: the voices, numerals as lyrics.

music21 is imported inside the functions.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from composer.events import Note
from composer.files import refuse_overwrite, write_bytes_atomic
from composer.harmony.analysis import Analysis
from composer.harmony.keyfinding import short_key_name
from composer.harmony.notation import musicxml_bytes, q, voices_score


def roman_score(analysis: Analysis) -> Any:
    """Build a music21 ``Score`` of the analyzed voices with the Roman numerals as lyrics.

    The voices come out as :func:`~composer.harmony.notation.voices_score` writes them (one
    staff per voice, spelled in the key, the file's name as the title).  Each chord change gets
    its numeral (prefixed by the key, as ``"f#: i"``, where the local key changes) under the
    bass: where the bass holds a note across the change, the note is split there and tied.
    """
    from music21 import note, tie

    piece = analysis.piece
    pad = Fraction(0)
    bar = piece.numerator * 4.0 / piece.denominator
    if piece.first_bar == 0 and len(piece.bar_starts) > 1:
        pad = q(bar - piece.bar_starts[1])  # fill the pickup bar with a rest
    labels: list[tuple[Fraction, str]] = []
    last_key = last_label = None
    for c in analysis.chords:
        if (c.roman, c.key) == last_label:
            continue
        last_label = (c.roman, c.key)
        labels.append((q(c.offset) + pad, c.roman if c.key == last_key else f"{short_key_name(c.key)}: {c.roman}"))
        last_key = c.key
    cuts = {t - pad for t, _ in labels}
    split: list[Note] = []  # the bass, cut where a numeral falls inside one of its notes
    joins: set[Fraction] = set()  # where a cut note goes on (tied)
    for n in piece.voices[-1]:
        inner = sorted(t for t in cuts if q(n.start) < t < q(n.end))
        joins.update(t + pad for t in inner)
        edges = [q(n.start), *inner, q(n.end)]
        split += [Note(float(a), n.pitch, float(b - a), n.velocity) for a, b in zip(edges, edges[1:], strict=False)]
    score = voices_score([*piece.voices[:-1], split], analysis.voices.names, key_name=analysis.key.name,
                         time_signature=(piece.numerator, piece.denominator), title=Path(analysis.source).stem,
                         pickup=float(pad), first_bar=piece.first_bar if pad else 1, find_anacrusis=False)
    low = score.parts[-1]
    notes = list(low.recurse().getElementsByClass(note.Note))
    at = {id(nn): nn.getOffsetInHierarchy(low) for nn in notes}
    for prev, nn in zip(notes, notes[1:], strict=False):
        if at[id(nn)] in joins and prev.pitch.midi == nn.pitch.midi:
            was, now = prev.tie.type if prev.tie else None, nn.tie.type if nn.tie else None
            prev.tie = tie.Tie("continue" if was in ("stop", "continue") else "start")
            nn.tie = tie.Tie("continue" if now in ("start", "continue") else "stop")
    for t, text in labels:
        hit = next((nn for nn in notes if at[id(nn)] == t), None)
        if hit is not None:
            hit.addLyric(text)
    return score


def write_roman(analysis: Analysis, path: str | Path, *, force: bool = False) -> Path:
    """Write the Roman-numeral analysis as MusicXML (atomically, no overwrite unless ``force``).

    Raises
    ------
    OutputError
        If the file exists and ``force`` is false, or cannot be written.
    """
    path = Path(path)
    refuse_overwrite(path, force)
    data = musicxml_bytes(roman_score(analysis), path)
    return write_bytes_atomic(bytes(data), path, force=force)
