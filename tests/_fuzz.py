"""Hostile MIDI files for the reliability and fuzz tests: a hand-written SMF writer and mutators.

Every function returns the raw bytes of one file; :func:`hostile_cases` names the whole
catalogue (structural attacks) and :func:`mutations` derives seeded random mutations
(truncation, bit flips, byte splices) of a valid file.  Nothing here imports composer,
so the same cases serve the tests and ``benchmarks/fuzz_report.py``.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator, Sequence

# (delta ticks, event bytes without the delta)
Event = tuple[int, bytes]


def vlq(n: int) -> bytes:
    """MIDI variable-length quantity of ``n`` (0 <= n < 2**28)."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def track(events: Sequence[Event], end: bool = True) -> bytes:
    """One ``MTrk`` chunk holding ``events`` (plus End of Track unless ``end`` is false)."""
    body = b"".join(vlq(d) + e for d, e in events)
    if end:
        body += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + body


def smf(tracks: Sequence[bytes], fmt: int = 1, tpq: int = 480, ntrks: int | None = None) -> bytes:
    """A standard MIDI file from track chunks (``ntrks`` may lie about their number)."""
    n = len(tracks) if ntrks is None else ntrks
    return b"MThd" + struct.pack(">IHHH", 6, fmt, n, tpq) + b"".join(tracks)


def tempo_event(bpm: float) -> bytes:
    """A Set Tempo meta event (microseconds per quarter, clamped to 24 bits)."""
    us = max(0, min(0xFFFFFF, round(60_000_000 / bpm))) if bpm > 0 else 0
    return b"\xff\x51\x03" + us.to_bytes(3, "big")


def melody(n: int = 16, tpq: int = 480, start_pitch: int = 60) -> list[Event]:
    """``n`` quarter notes stepping up a C major scale from ``start_pitch``."""
    steps = [0, 2, 4, 5, 7, 9, 11, 12]
    ev: list[Event] = [(0, tempo_event(100)), (0, b"\xff\x58\x04\x04\x02\x18\x08")]
    for i in range(n):
        p = start_pitch + steps[i % len(steps)] + 12 * (i // len(steps) % 2)
        ev.append((0, bytes([0x90, p, 80])))
        ev.append((tpq, bytes([0x80, p, 0])))
    return ev


def valid(n: int = 16, tpq: int = 480) -> bytes:
    """A small valid type-1 file: a tempo track and a melody track."""
    return smf([track([(0, tempo_event(100))]), track(melody(n, tpq)[1:])], tpq=tpq)


def running_status_abuse() -> bytes:
    """Data bytes with no status before them, status switches mid-run, and a lone data byte."""
    ev: list[Event] = [(0, b"\x3c\x40"), (0, b"\x90\x3c\x40"), (240, b"\x3e\x40"), (240, b"\x3c\x00")]
    ev += [(0, b"\xff\x01\x03abc"), (0, b"\x40\x40"), (240, b"\xb0\x07"), (0, b"\x3e")]
    return smf([track(ev)], fmt=0)


def giant_delta() -> bytes:
    """A note whose off comes 2**28-1 ticks later (the largest VLQ): about 560,000 beats."""
    ev: list[Event] = [(0, b"\x90\x3c\x40"), (0x0FFFFFFF, b"\x80\x3c\x00")]
    return smf([track(ev)], fmt=0)


def long_silence(beats: int = 90_000, tpq: int = 480) -> bytes:
    """Two notes ``beats`` apart: under the length limit, but a very long 'piece'."""
    ev: list[Event] = [(0, b"\x90\x3c\x40"), (tpq, b"\x80\x3c\x00")]
    ev += [((beats - 1) * tpq, b"\x90\x40\x40"), (tpq, b"\x80\x40\x00")]
    return smf([track(ev)], fmt=0, tpq=tpq)


def overlong_vlq() -> bytes:
    """A delta time of five continuation bytes (VLQs are at most four)."""
    body = b"\xff\xff\xff\xff\x7f\x90\x3c\x40" + b"\x00\xff\x2f\x00"
    return smf([b"MTrk" + struct.pack(">I", len(body)) + body], fmt=0)


def midi_bomb(notes: int = 250_000) -> bytes:
    """A ~1.5 MB file that decodes into ``notes`` notes (running status, zero deltas)."""
    body = bytearray(b"\x00\x90\x3c\x40")
    for i in range(notes):
        p = 36 + i % 48
        body += bytes([0, p, 0x40, 1, p, 0]) if i else bytes([1, 0x3C, 0])
    body += b"\x00\xff\x2f\x00"
    return smf([b"MTrk" + struct.pack(">I", len(body)) + bytes(body)], fmt=0)


def many_tracks(n: int = 10_000) -> bytes:
    """``n`` track chunks of one note each."""
    t = track([(0, b"\x90\x3c\x40"), (480, b"\x80\x3c\x00")])
    return smf([t] * n)


def many_tracks_hidden(n: int = 10_000) -> bytes:
    """``n`` track chunks while the header claims 2 (the chunk walk must count them)."""
    t = track([(0, b"\x90\x3c\x40"), (480, b"\x80\x3c\x00")])
    return smf([t] * n, ntrks=2)


def huge_chunk_length() -> bytes:
    """A track chunk that claims 4 GB."""
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk\xff\xff\xff\xf0" + b"\x00\x90\x3c\x40"


def huge_sysex() -> bytes:
    """A SysEx event whose length runs past the end of its track."""
    ev: list[Event] = [(0, b"\xf0" + vlq(0x0FFFFFF0) + b"\x01\x02")]
    return smf([track(ev)], fmt=0)


def huge_meta() -> bytes:
    """A text meta event claiming 256 MB."""
    ev: list[Event] = [(0, b"\xff\x01" + vlq(0x0FFFFFFF) + b"x")]
    return smf([track(ev)], fmt=0)


def hostile_cases() -> dict[str, bytes]:
    """Named structural attacks, each a whole file.  Built fresh on each call."""
    good = valid()
    one_note = [(0, b"\x90\x3c\x40"), (480, b"\x80\x3c\x00")]
    cases: dict[str, bytes] = {
        "empty": b"",
        "one_byte": b"M",
        "header_only": good[:14],
        "wrong_magic": b"MThx" + good[4:],
        "riff_rmid": b"RIFF" + struct.pack("<I", len(good) + 4) + b"RMIDdata" + good,
        "text_file": b"this is not a MIDI file at all\n" * 4,
        "png_header": b"\x89PNG\r\n\x1a\n" + good,
        "header_len_5": b"MThd" + struct.pack(">I", 5) + good[8:],
        "header_len_huge": b"MThd" + struct.pack(">I", 0xFFFFFFFF) + good[8:],
        "header_len_long": b"MThd" + struct.pack(">IHHHH", 8, 1, 2, 480, 0) + good[14:],
        "format_3": b"MThd" + struct.pack(">IHHH", 6, 3, 2, 480) + good[14:],
        "format_0xffff": b"MThd" + struct.pack(">IHHH", 6, 0xFFFF, 2, 480) + good[14:],
        "type_0_two_tracks": b"MThd" + struct.pack(">IHHH", 6, 0, 2, 480) + good[14:],
        "type_2": smf([track(melody(8)), track(melody(8, start_pitch=48))], fmt=2),
        "tpq_0": b"MThd" + struct.pack(">IHHH", 6, 1, 2, 0) + good[14:],
        "tpq_1": smf([track([(0, b"\x90\x3c\x40"), (1, b"\x80\x3c\x00")])], fmt=0, tpq=1),
        "tpq_32767": smf([track(melody(8, tpq=32767))], fmt=0, tpq=32767),
        "smpte_division": b"MThd" + struct.pack(">IHHH", 6, 1, 2, 0xE728) + good[14:],
        "ntrks_0": b"MThd" + struct.pack(">IHHH", 6, 1, 0, 480) + good[14:],
        "ntrks_lies_high": smf([track(melody(8))], ntrks=500),
        "no_tracks": good[:14],
        "zero_length_track": smf([b"MTrk\x00\x00\x00\x00"], fmt=0),
        "zero_length_tracks_plus_melody": smf([b"MTrk\x00\x00\x00\x00"] * 3 + [track(melody(8))]),
        "no_end_of_track": smf([track(melody(8), end=False)], fmt=0),
        "unknown_chunk_only": smf([b"XYZW\x00\x00\x00\x04abcd"], fmt=0),
        "unknown_chunk_between": smf([b"XYZW\x00\x00\x00\x04abcd", track(melody(8))], fmt=0),
        "trailing_garbage": good + b"\x00\x01garbage" * 8,
        "truncated_chunk": good[:-5],
        "truncated_event": smf([b"MTrk\x00\x00\x00\x02\x00\x90"], fmt=0),
        "running_status_abuse": running_status_abuse(),
        "note_on_without_off": smf([track([(0, b"\x90\x3c\x40"), (480, b"\x90\x3e\x40")])], fmt=0),
        "note_off_without_on": smf([track([(480, b"\x80\x3c\x00")] + one_note)], fmt=0),
        "velocity_0_only": smf([track([(0, b"\x90\x3c\x00"), (480, b"\x90\x3e\x00")])], fmt=0),
        "data_byte_over_127": smf([track([(0, b"\x90\xff\xff"), (480, b"\x80\xff\x00")])], fmt=0),
        "giant_delta": giant_delta(),
        "long_silence_90k_beats": long_silence(),
        "overlong_vlq": overlong_vlq(),
        "tempo_0": smf([track([(0, b"\xff\x51\x03\x00\x00\x00")] + one_note)], fmt=0),
        "tempo_1_us": smf([track([(0, b"\xff\x51\x03\x00\x00\x01")] + one_note)], fmt=0),
        "tempo_max": smf([track([(0, b"\xff\x51\x03\xff\xff\xff")] + one_note)], fmt=0),
        "tempo_short_meta": smf([track([(0, b"\xff\x51\x01\x07")] + one_note)], fmt=0),
        "tempo_10000_changes": smf(
            [track([(1, tempo_event(20 + i % 500)) for i in range(10_000)] + one_note)], fmt=0
        ),
        "time_signature_0_0": smf([track([(0, b"\xff\x58\x04\x00\x00\x18\x08")] + one_note)], fmt=0),
        "time_signature_255_2pow31": smf(
            [track([(0, b"\xff\x58\x04\xff\x1f\x18\x08")] + one_note)], fmt=0
        ),
        "key_signature_garbage": smf([track([(0, b"\xff\x59\x02\x7f\x05")] + one_note)], fmt=0),
        "huge_chunk_length": huge_chunk_length(),
        "huge_sysex": huge_sysex(),
        "huge_meta": huge_meta(),
        "drum_only": smf([track([(0, b"\x99\x24\x40"), (480, b"\x89\x24\x00")])], fmt=0),
        "no_notes": smf([track([(0, tempo_event(90))])], fmt=0),
        "all_16_channels": smf(
            [track([(0, bytes([0x90 | c, 60 + c, 64])) for c in range(16)]
                   + [(480, bytes([0x80 | c, 60 + c, 0])) for c in range(16)])], fmt=0
        ),
        "10000_tracks": many_tracks(),
        "10000_tracks_header_says_2": many_tracks_hidden(),
        "midi_bomb_250k_notes": midi_bomb(),
    }
    return cases


def truncations(data: bytes, count: int, rng: random.Random) -> Iterator[bytes]:
    """``count`` prefixes of ``data`` at random lengths."""
    for _ in range(count):
        yield data[: rng.randrange(0, len(data))]


def bit_flips(data: bytes, count: int, rng: random.Random, flips: int = 3) -> Iterator[bytes]:
    """``count`` copies of ``data`` with ``flips`` random bits flipped each."""
    for _ in range(count):
        b = bytearray(data)
        for _ in range(flips):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        yield bytes(b)


def byte_splices(data: bytes, count: int, rng: random.Random) -> Iterator[bytes]:
    """``count`` copies with a random run of bytes replaced, inserted or deleted."""
    interesting = [0x00, 0x7F, 0x80, 0xFF, 0x90, 0xF0, 0xF7, 0x2F, 0x51]
    for _ in range(count):
        b = bytearray(data)
        i = rng.randrange(len(b))
        n = rng.randint(1, 8)
        kind = rng.randrange(3)
        blob = bytes(rng.choice(interesting) if rng.random() < 0.5 else rng.randrange(256)
                     for _ in range(n))
        if kind == 0:
            b[i : i + n] = blob
        elif kind == 1:
            b[i:i] = blob
        else:
            del b[i : i + n]
        yield bytes(b)


def mutations(data: bytes, count: int, seed: int = 0) -> list[tuple[str, bytes]]:
    """``count`` seeded mutations of ``data``: a third each truncated, bit-flipped, spliced."""
    rng = random.Random(seed)
    third = max(1, count // 3)
    out: list[tuple[str, bytes]] = []
    for kind, gen in (
        ("truncated", truncations(data, third, rng)),
        ("bitflip", bit_flips(data, third, rng)),
        ("splice", byte_splices(data, count - 2 * third, rng)),
    ):
        out += [(f"{kind}_{i:03d}", b) for i, b in enumerate(gen)]
    return out
