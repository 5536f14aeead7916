"""Voices as a music21 score a notation program opens cleanly (MusicXML export).

One part (staff) per voice with its name, the key signature and the metre, a title, and pitches
spelled in the key by the harmonic chromatic scale (each interval above the tonic has one
letter: the leading tone C# in D minor, not Db; E natural in Bb major, not Fb).  music21's own
spelling (always sharps) wrote Bb-major chorales full of A# and redundant naturals.  music21 is imported inside
the functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from composer.errors import OutputError
from composer.events import Note
from composer.files import refuse_overwrite, write_bytes_atomic
from composer.harmony.keyfinding import m21_key

LETTERS = "CDEFGAB"
NATURAL_PC = (0, 2, 4, 5, 7, 9, 11)


def q(x: float) -> Fraction:
    """Round a beat value to a 1/12 grid (sixteenths and triplets) for notation."""
    return Fraction(round(x * 12), 12)


#: Interval above the tonic -> scale degree (0 = the tonic's letter), as the harmonic chromatic scale
#: spells it in major and minor alike: b2, 2, b3, 3, 4, #4, 5, b6, 6, b7, 7.
DEGREE_OF_INTERVAL = (0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6)


def spelling(key_name: str) -> dict[int, tuple[str, int]]:
    """Pitch class -> (letter, alteration in semitones) for every pitch class in ``key_name``.

    The letter is the scale degree the harmonic chromatic scale gives the interval above the
    tonic (the leading tone C# in D minor, E natural in Bb major, Gb as the flat sixth of Bb).
    """
    k = m21_key(key_name)
    tonic_letter = LETTERS.index(k.tonic.step)
    out: dict[int, tuple[str, int]] = {}
    for interval, degree in enumerate(DEGREE_OF_INTERVAL):
        pc = (k.tonic.pitchClass + interval) % 12
        letter = LETTERS[(tonic_letter + degree) % 7]
        alter = (pc - NATURAL_PC[LETTERS.index(letter)] + 6) % 12 - 6  # -6..5, in practice -2..2
        out[pc] = (letter, alter)
    return out


def _pitch(midi: int, names: dict[int, tuple[str, int]]) -> Any:
    from music21 import pitch

    letter, alter = names[midi % 12]
    p = pitch.Pitch(letter)
    if alter:
        p.accidental = pitch.Accidental(alter)
    # the octave that makes this spelling sound ``midi`` (B#3 is C4, Cb5 is B4)
    p.octave = (midi - NATURAL_PC[LETTERS.index(letter)] - alter) // 12 - 1
    return p


def voices_score(
    voices: Sequence[Sequence[Note]],
    names: Sequence[str],
    *,
    key_name: str,
    time_signature: tuple[int, int] = (4, 4),
    title: str = "",
    pickup: float = 0.0,
    first_bar: int = 1,
    find_anacrusis: bool = True,
    fermatas: Sequence[float] = (),
) -> Any:
    """A music21 ``Score``: one named part per voice, key signature, metre, title, clean spelling.

    ``fermatas`` (onsets, beats): each voice's note sounding there carries a fermata (the phrase ends).

    ``pickup`` (beats) shifts the music so its first bar is a full one holding a rest (the
    analysis' own pickup); without one, music that starts after the first downbeat with every
    voice silent before it becomes a pickup bar numbered ``first_bar - 1`` (``find_anacrusis``).
    """
    from music21 import clef, expressions, instrument, metadata, meter, note, stream

    names_pc = spelling(key_name)
    score = stream.Score()
    score.metadata = metadata.Metadata(title=title or "composer", composer="composer")
    pad = q(pickup)
    num, den = time_signature
    bar = Fraction(num * 4, den)
    # Music that starts after the first downbeat, every voice silent before it (a generated
    # chorale's anacrusis), is written as a pickup: a short first bar numbered 0, not rests.
    lead = min((q(n.start) for v in voices for n in v), default=Fraction(0))
    anacrusis = lead if find_anacrusis and not pad and 0 < lead < bar else Fraction(0)
    clefs = {"Soprano": clef.TrebleClef, "Alto": clef.TrebleClef, "Tenor": clef.Treble8vbClef,
             "Bass": clef.BassClef, "S": clef.TrebleClef, "A": clef.TrebleClef, "T": clef.Treble8vbClef,
             "B": clef.BassClef}
    for i, (name, voice) in enumerate(zip(names, voices, strict=True)):
        part = stream.Part(id=name)
        part.partName = name
        staff = instrument.Instrument()
        staff.partId, staff.partName = f"P{i + 1}", name  # else music21 draws a random id: not reproducible
        part.insert(0, staff)
        for n in voice:
            m21 = note.Note(_pitch(n.pitch, names_pc), quarterLength=max(q(n.duration), Fraction(1, 12)))
            m21.volume.velocity = n.velocity
            if any(n.start - 1e-6 <= t < n.end - 1e-6 for t in fermatas):
                m21.expressions.append(expressions.Fermata())
            part.insert(q(n.start) + pad, m21)
        part.insert(0, clefs[name]() if name in clefs else clef.bestClef(part, recurse=True))
        part.insert(0, meter.TimeSignature(f"{num}/{den}"))
        part.insert(0, m21_key(key_name))
        part.makeRests(fillGaps=True, inPlace=True)
        part.makeMeasures(inPlace=True)
        part.makeTies(inPlace=True)
        measures = list(part.getElementsByClass(stream.Measure))
        if anacrusis and measures:
            first = measures[0]
            for r in list(first.getElementsByClass(note.Rest)):
                if r.offset < anacrusis:
                    first.remove(r)
            for el in list(first.notesAndRests):
                first.setElementOffset(el, el.offset - anacrusis)
            first.paddingLeft = float(anacrusis)
        for i, m in enumerate(measures):
            m.number = (first_bar - 1 if anacrusis else first_bar) + i
        score.insert(0, part)
    from music21.stream import makeNotation

    for part in score.parts:  # accidentals only where the key signature and the bar need them
        makeNotation.makeAccidentalsInMeasureStream(part, overrideStatus=True, cautionaryNotImmediateRepeat=False)
    return score


def musicxml_bytes(score: Any, path: str | Path) -> bytes:
    """MusicXML of a music21 score (errors become :class:`OutputError` naming ``path``)."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    try:
        xml = bytes(GeneralObjectExporter(score).parse())
    except Exception as exc:  # music21 export errors are not ComposerErrors
        raise OutputError(f"cannot build MusicXML for {path}: {type(exc).__name__}: {exc}") from None
    # The encoding date (today) is optional: without it the same music gives the same bytes.
    return re.sub(rb"\s*<encoding-date>[^<]*</encoding-date>", b"", xml, count=1)


def write_voices_xml(
    voices: Sequence[Sequence[Note]],
    names: Sequence[str],
    path: str | Path,
    *,
    key_name: str,
    time_signature: tuple[int, int] = (4, 4),
    title: str = "",
    force: bool = False,
    fermatas: Sequence[float] = (),
) -> Path:
    """Write voices as MusicXML (one staff per voice), atomically, refusing to overwrite unless ``force``."""
    path = Path(path)
    refuse_overwrite(path, force)
    score = voices_score(voices, names, key_name=key_name, time_signature=time_signature, title=title or path.stem,
                         fermatas=fermatas)
    return write_bytes_atomic(musicxml_bytes(score, path), path, force=force)
