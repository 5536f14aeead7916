"""Voice separation and four-part voice-leading checks (no music21 needed).

A *voice* is a monophonic line: a list of :class:`~composer.events.Note` that
do not overlap.  Voices are ordered from the highest (index 0, soprano) to the
lowest (the bass).  :func:`separate_voices` turns any set of notes (one merged
track, or several tracks) into voices; :func:`check_voice_leading` finds
parallel fifths and octaves, voice crossings, wide spacing and range
violations in them.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from composer.events import Note
from composer.keys import SATB_RANGES, pitch_name

ONSET_EPS = 0.03  # beats: onsets closer than this are simultaneous (humanized MIDI)
MAX_VOICES = 8  # a texture thicker than this is not treated as part-writing
FAULT_KINDS = ("parallel_fifths", "parallel_octaves", "voice_crossing", "spacing", "range")


@dataclass(frozen=True)
class VoiceFault:
    """One voice-leading fault."""

    kind: str  # one of FAULT_KINDS
    bar: int  # bar number (as in the score: a pickup bar is bar 0)
    beat: float  # beat within the bar, 1-based
    offset: float  # beats from the start of the piece
    voices: tuple[str, ...]  # voice names, e.g. ("S", "B")
    detail: str  # human-readable, e.g. "C#5-F#4 -> D5-G4"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        d = asdict(self)
        d["voices"] = list(self.voices)
        return d


def voice_names(n: int) -> list[str]:
    """Names of ``n`` voices, highest first: S A T B for four, else V1..Vn."""
    if n == 4:
        return ["S", "A", "T", "B"]
    return [f"V{i + 1}" for i in range(n)]


def _group_onsets(notes: Sequence[Note]) -> list[list[Note]]:
    """Group notes by (nearly) simultaneous onset, in time order."""
    groups: list[list[Note]] = []
    for n in sorted(notes):
        if groups and n.start - groups[-1][0].start < ONSET_EPS:
            groups[-1].append(n)
        else:
            groups.append([n])
    return groups


def polyphony_count(notes: Sequence[Note]) -> int:
    """Most common number of notes sounding at an onset (the texture's voice count)."""
    if not notes:
        return 0
    ordered = sorted(notes)
    starts = [n.start for n in ordered]
    ends = sorted(n.end for n in ordered)
    counts: Counter[int] = Counter()
    for group in _group_onsets(ordered):
        t = group[0].start + ONSET_EPS
        # started by t, minus those already ended (a note ends after it starts)
        counts[bisect.bisect_right(starts, t) - bisect.bisect_right(ends, t)] += 1
    return max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]


def is_monophonic(notes: Sequence[Note], tolerance: float = 0.1) -> bool:
    """Whether at most ``tolerance`` of the onsets start a chord inside ``notes``."""
    groups = _group_onsets(notes)
    if not groups:
        return True
    return sum(len(g) > 1 for g in groups) <= tolerance * len(groups)


def monophonize(notes: Sequence[Note]) -> tuple[list[Note], int]:
    """Make a nearly monophonic line strictly monophonic.

    Of simultaneous notes the highest is kept; a note overlapping the next one
    is cut where the next starts.  Returns the line and the number of dropped notes.
    """
    groups = _group_onsets(notes)
    line = [max(g, key=lambda n: n.pitch) for g in groups]
    dropped = sum(len(g) - 1 for g in groups)
    out = []
    for i, n in enumerate(line):
        end = line[i + 1].start if i + 1 < len(line) and line[i + 1].start < n.end else n.end
        out.append(Note(n.start, n.pitch, max(end - n.start, 1e-3), n.velocity))
    return out, dropped


def _pair_costs(
    group: Sequence[Note], free: Sequence[int], anchor: Sequence[float], held: dict[int, int]
) -> list[list[float]]:
    """Cost of giving note ``group[i]`` to voice ``free[j]``: its leap, plus 24 per held voice crossed."""
    costs = []
    for n in group:
        row = []
        for v in free:
            c = abs(n.pitch - anchor[v])
            for h, hp in held.items():  # crossing a held voice is expensive
                if (v < h and n.pitch < hp) or (v > h and n.pitch > hp):
                    c += 24.0
            row.append(c)
        costs.append(row)
    return costs


EXHAUSTIVE_LIMIT = 2000  # assignments tried one by one up to this many; an exact DP above it


def _best_assignment(
    group: Sequence[Note], free: Sequence[int], anchor: Sequence[float], held: dict[int, int]
) -> tuple[tuple[Note, ...], tuple[int, ...]]:
    """The cheapest order-keeping match of ``group`` (highest first) to ``free`` voices.

    As many pairs as the smaller side has; the highest chosen note goes to the highest chosen
    voice.  Small chords try every assignment (the first cheapest wins, as it always has);
    dense ones (a 40-note chord has 76 million) use a dynamic programme over (notes, voices)
    that finds the same least cost in O(notes x voices).
    """
    pc = _pair_costs(group, free, anchor, held)
    g, f = len(group), len(free)
    k = min(g, f)
    if math.comb(g, k) * math.comb(f, k) <= EXHAUSTIVE_LIMIT:
        pairs = itertools.product(itertools.combinations(range(g), k), itertools.combinations(range(f), k))
        ni, vj = min(pairs, key=lambda p: sum(pc[i][j] for i, j in zip(*p, strict=True)))  # first cheapest
        return tuple(group[i] for i in ni), tuple(free[j] for j in vj)
    inf = float("inf")
    # cost[i][j]: least cost using the first i notes and the first j voices, where only the
    # larger side may skip members (so the smaller side ends up fully matched).
    cost = [[inf] * (f + 1) for _ in range(g + 1)]
    step = [[0] * (f + 1) for _ in range(g + 1)]  # how (i, j) was reached: 0 pair, 1 skip note, 2 skip voice
    cost[0][0] = 0.0
    for i in range(g + 1):
        for j in range(f + 1):
            here = cost[i][j]
            if here == inf:
                continue
            if i < g and j < f and here + pc[i][j] < cost[i + 1][j + 1]:
                cost[i + 1][j + 1], step[i + 1][j + 1] = here + pc[i][j], 0
            if i < g and g > f and here < cost[i + 1][j]:
                cost[i + 1][j], step[i + 1][j] = here, 1
            if j < f and f > g and here < cost[i][j + 1]:
                cost[i][j + 1], step[i][j + 1] = here, 2
    notes: list[Note] = []
    voices: list[int] = []
    i, j = g, f
    while i or j:
        how = step[i][j]
        if how == 0:
            i, j = i - 1, j - 1
            notes.append(group[i])
            voices.append(free[j])
        elif how == 1:
            i -= 1
        else:
            j -= 1
    return tuple(reversed(notes)), tuple(reversed(voices))


def split_voices(
    notes: Sequence[Note], n_voices: int | None = None
) -> tuple[list[list[Note]], int]:
    """Split merged notes (one track of chords) into ``n_voices`` monophonic voices.

    At every onset the new notes go to the voices that are free (not holding a
    note), keeping pitch order and staying close to each voice's last pitch, so
    a held note keeps its voice.  Notes past the voice count are dropped.

    Parameters
    ----------
    notes : sequence of Note
        The merged notes.
    n_voices : int, optional
        Number of voices; by default the most common number of sounding notes.

    Returns
    -------
    (list of list of Note, int)
        The voices, highest first, and the number of notes left out.
    """
    if n_voices is None:
        n_voices = max(1, min(MAX_VOICES, polyphony_count(notes)))
    if n_voices < 1:
        raise ValueError(f"n_voices must be >= 1, got {n_voices}")
    pitches = sorted(n.pitch for n in notes) or [60]
    # Start each voice at the matching quantile of the pitch distribution.
    anchor = [
        float(
            pitches[min(len(pitches) - 1, int((n_voices - 1 - i + 0.5) / n_voices * len(pitches)))]
        )
        for i in range(n_voices)
    ]
    ends = [float("-inf")] * n_voices
    current = [0] * n_voices  # pitch of each voice's latest note
    voices: list[list[Note]] = [[] for _ in range(n_voices)]
    dropped = 0
    for group in _group_onsets(notes):
        t = group[0].start
        held = {v: current[v] for v in range(n_voices) if ends[v] > t + ONSET_EPS}
        free = [v for v in range(n_voices) if v not in held]
        group = sorted(group, key=lambda n: -n.pitch)
        if not free:
            # Re-attack: the new notes replace the held notes closest in pitch.
            free = list(range(n_voices))
            held = {}
        chosen, vs = _best_assignment(group, free, anchor, held)
        dropped += len(group) - len(chosen)
        for n, v in zip(chosen, vs, strict=True):
            line = voices[v]
            if line and line[-1].end > n.start:  # cut a held note that is re-attacked
                last = line[-1]
                line[-1] = Note(
                    last.start, last.pitch, max(n.start - last.start, 1e-3), last.velocity
                )
            line.append(n)
            ends[v], current[v], anchor[v] = n.end, n.pitch, float(n.pitch)
    return voices, dropped


def separate_voices(tracks: Sequence[Sequence[Note]]) -> tuple[list[list[Note]], int]:
    """Turn tracks (or parts) into voices, highest first.

    Several nearly monophonic tracks are used as voices as they are (sorted by
    mean pitch, highest first); one track, or any track with chords, is merged
    and split by :func:`split_voices`.

    Returns
    -------
    (list of list of Note, int)
        The voices and the number of notes left out of them.
    """
    tracks = [list(t) for t in tracks if t]
    if not tracks:
        return [], 0
    if len(tracks) > 1 and len(tracks) <= MAX_VOICES and all(is_monophonic(t) for t in tracks):
        dropped = 0
        lines = []
        for t in tracks:
            line, d = monophonize(t)
            lines.append(line)
            dropped += d
        lines.sort(key=lambda line: -sum(n.pitch for n in line) / len(line))
        return lines, dropped
    return split_voices([n for t in tracks for n in t])


def sounding(voice: Sequence[Note], starts: Sequence[float], t: float) -> int | None:
    """Pitch of the note of ``voice`` sounding at beat ``t`` (``starts`` its note starts)."""
    i = bisect.bisect_right(starts, t + ONSET_EPS) - 1
    if i >= 0 and voice[i].end > t + ONSET_EPS:
        return voice[i].pitch
    return None


def voice_states(voices: Sequence[Sequence[Note]]) -> list[tuple[float, tuple[int | None, ...]]]:
    """Give the pitch of every voice at every onset: ``[(beat, (p_S, p_A, ...)), ...]``."""
    starts = [[n.start for n in v] for v in voices]
    times = sorted({round(n.start, 6) for v in voices for n in v})
    return [
        (t, tuple(sounding(v, s, t) for v, s in zip(voices, starts, strict=True))) for t in times
    ]


def check_voice_leading(
    voices: Sequence[Sequence[Note]],
    locate: object = None,
) -> list[VoiceFault]:
    """Find voice-leading faults in monophonic voices (highest first).

    Parallel (and contrary) fifths and octaves are checked between every pair of
    voices: both voices move and the interval class stays a fifth (or an
    octave/unison).  Crossing is checked between adjacent voices; spacing over
    an octave (S-A, A-T) and SATB ranges only with exactly four voices.

    Parameters
    ----------
    voices : sequence of sequence of Note
        The voices, highest first.
    locate : callable, optional
        ``locate(offset) -> (bar, beat_in_bar)``; by default 4/4 from beat 0.

    Returns
    -------
    list of VoiceFault
        In time order.
    """

    def default_locate(t: float) -> tuple[int, float]:
        return int(t // 4) + 1, t % 4 + 1

    where = locate if callable(locate) else default_locate
    names = voice_names(len(voices))
    faults: list[VoiceFault] = []

    def add(kind: str, t: float, vs: tuple[str, ...], detail: str) -> None:
        bar, beat = where(t)
        faults.append(VoiceFault(kind, int(bar), round(float(beat), 3), round(t, 4), vs, detail))

    states = voice_states(voices)
    crossing_on: set[tuple[int, int]] = set()
    spacing_on: set[tuple[int, int]] = set()
    for k, (t, cur) in enumerate(states):
        if k > 0:
            prev = states[k - 1][1]
            for i, j in itertools.combinations(range(len(voices)), 2):
                a0, b0, a1, b1 = prev[i], prev[j], cur[i], cur[j]
                if a0 is None or b0 is None or a1 is None or b1 is None:
                    continue
                if a0 == a1 or b0 == b1:
                    continue  # one voice holds or repeats: no parallel motion
                ic0, ic1 = abs(a0 - b0) % 12, abs(a1 - b1) % 12
                if ic0 == ic1 and ic0 in (0, 7):
                    kind = "parallel_fifths" if ic0 == 7 else "parallel_octaves"
                    before = f"{pitch_name(a0)}-{pitch_name(b0)}"
                    detail = f"{before} -> {pitch_name(a1)}-{pitch_name(b1)}"
                    add(kind, t, (names[i], names[j]), detail)
        for i in range(len(voices) - 1):
            a, b = cur[i], cur[i + 1]
            pair = (i, i + 1)
            crossed = a is not None and b is not None and b > a
            if a is not None and b is not None and crossed and pair not in crossing_on:
                detail = f"{names[i + 1]} {pitch_name(b)} above {names[i]} {pitch_name(a)}"
                add("voice_crossing", t, (names[i], names[i + 1]), detail)
            (crossing_on.add if crossed else crossing_on.discard)(pair)
            if len(voices) != 4 or i >= 2:
                continue
            wide = a is not None and b is not None and a - b > 12
            if a is not None and b is not None and wide and pair not in spacing_on:
                detail = f"{pitch_name(a)}-{pitch_name(b)} is {a - b} semitones"
                add("spacing", t, (names[i], names[i + 1]), detail)
            (spacing_on.add if wide else spacing_on.discard)(pair)
    if len(voices) == 4:
        for name, voice in zip(names, voices, strict=True):
            lo, hi = SATB_RANGES[name]
            for n in voice:
                if not lo <= n.pitch <= hi:
                    add(
                        "range",
                        n.start,
                        (name,),
                        f"{pitch_name(n.pitch)} outside {pitch_name(lo)}-{pitch_name(hi)}",
                    )
    faults.sort(key=lambda f: (f.offset, FAULT_KINDS.index(f.kind)))
    return faults
