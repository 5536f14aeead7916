"""``--humanize``: velocities shaped as a player or a choir would shape them (off by default).

The model writes every note at one velocity, which a DAW plays as a machine would.  Shaping
keeps every onset, pitch and duration (a score editor sees the same notes) and changes only
velocities, from a base of 78 (mezzo-forte):

* the metre: the downbeat +10, the bar's middle strong beat (beat 3 of 4/4, the third dotted
  beat of 12/8; bars of two or three beats have none) +5, other beats 0, notes off the beat -6;
* the voices: the soprano +6 over the inner voices (-4), the bass 0; in one merged track the
  highest note at an onset +5;
* the line: higher notes of a voice louder, 0.6 per semitone from the voice's mean (at most
  +-8), as singers do;
* the ending: a diminuendo over the last two bars, to -10;
* a small random spread, -4..+4, drawn from the piece's seed and its place in its batch (the
  same piece, the same velocities: a record's replay stays byte-identical).

A primer's notes keep their velocities: they are the user's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from composer.events import Note
from composer.generation.setup import GeneratedPiece

BASE = 78
DOWNBEAT, STRONG, OFFBEAT = 10, 5, -6
VOICE_ACCENT = (6, -4, -4, 0)  # soprano, alto, tenor, bass
TOP_ACCENT = 5  # the highest note at an onset, in one merged track
CONTOUR, CONTOUR_MAX = 0.6, 8.0
ENDING_BARS, ENDING_FADE = 2, 10.0
SPREAD = 4
LOW, HIGH = 24, 120
EPS = 1e-6


def _metric(start: float, meter: tuple[int, int]) -> int:
    """The accent of an onset ``start`` (quarter notes from the first bar line) in ``meter``."""
    num, den = meter
    bar = num * 4.0 / den
    pos = start % bar
    compound = den == 8 and num % 3 == 0 and num > 3
    beat = 1.5 if compound else 4.0 / den
    beats = round(bar / beat)
    if pos < EPS or bar - pos < EPS:
        return DOWNBEAT
    if beats % 2 == 0 and beats >= 4 and abs(pos - bar / 2) < EPS:
        return STRONG
    if abs(pos / beat - round(pos / beat)) < EPS:
        return 0
    return OFFBEAT


def _shape(line: Sequence[Note], accents: Sequence[int], meter: tuple[int, int], end: float,
           rng: np.random.Generator) -> list[Note]:
    """``line``'s notes with shaped velocities; ``accents[i]`` is note i's voice accent."""
    if not line:
        return []
    mean = sum(n.pitch for n in line) / len(line)
    fade_from = end - ENDING_BARS * meter[0] * 4.0 / meter[1]
    spread = rng.integers(-SPREAD, SPREAD + 1, size=len(line))
    out = []
    for n, accent, jitter in zip(line, accents, spread, strict=True):
        v = BASE + _metric(n.start, meter) + accent + float(np.clip(CONTOUR * (n.pitch - mean), -CONTOUR_MAX,
                                                                       CONTOUR_MAX))
        if n.start > fade_from:
            v -= ENDING_FADE * (n.start - fade_from) / max(end - fade_from, EPS)
        out.append(replace(n, velocity=int(np.clip(round(v + int(jitter)), LOW, HIGH))))
    return out


def humanize(piece: GeneratedPiece) -> GeneratedPiece:
    """``piece`` with shaped velocities (see the module's text); its primer's notes as they were."""
    index = int(piece.meta.get("index", 0))  # the pieces of one batch share its seed
    rng = np.random.default_rng([piece.seed & 0xFFFFFFFF, index, 0x68756D])  # "hum": apart from the sampling
    meter = piece.time_signature
    end = max((n.end for n in piece.notes), default=0.0)
    if piece.voices is not None:
        kept = piece.primer_notes  # a harmonized melody: the soprano's first notes are the user's
        voices = []
        for i, voice in enumerate(piece.voices):
            own = voice[kept:] if i == 0 else voice
            accent = VOICE_ACCENT[i] if i < len(VOICE_ACCENT) else 0
            shaped = _shape(own, [accent] * len(own), meter, end, rng)
            voices.append((list(voice[:kept]) if i == 0 else []) + shaped)
        return replace(piece, voices=voices, notes=sorted(n for v in voices for n in v))
    head, new = piece.notes[:piece.primer_notes], piece.notes[piece.primer_notes:]
    top: dict[float, int] = defaultdict(int)
    for n in new:
        top[round(n.start, 6)] = max(top[round(n.start, 6)], n.pitch)
    accents = [TOP_ACCENT if n.pitch == top[round(n.start, 6)] else 0 for n in new]
    return replace(piece, notes=list(head) + _shape(new, accents, meter, end, rng))
