"""Call and response: listen to a player's phrase, answer it with a continuation.

:class:`PhraseListener` collects note-ons and note-offs from a MIDI input
(with their arrival times).  A phrase is complete when every key is released
and nothing has been played for ``silence`` seconds.  :class:`Jam` then asks a
continuation function (``continue_notes(phrase, bars)``) for an answer and
plays it with a :class:`composer.live.Player`, starting right away.

Input that arrives while the answer plays is **ignored** (so an answer routed
back into the input, or the player noodling over it, never becomes the next
phrase); listening starts again when the answer has finished.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from composer.events import Note, next_bar_line
from composer.live.player import LiveConfig, LiveStatus, Player, PlayResult

Continuation = Callable[[Sequence[Note], int], list[Note]]


class PhraseListener:
    """Collect an input phrase; thread-safe (fed from a MIDI callback).

    Parameters
    ----------
    tempo : float
        Beats per minute used to turn seconds into beats.
    silence : float
        Seconds without input (and no key held) that end a phrase.
    """

    def __init__(self, tempo: float, silence: float) -> None:
        self.tempo = tempo
        self.silence = silence
        self._lock = threading.Lock()
        self._held: dict[int, tuple[float, int]] = {}  # pitch -> (on time, velocity)
        self._done: list[tuple[float, float, int, int]] = []  # (on, off, pitch, velocity)
        self._last = 0.0  # time of the last input
        self.listening = True
        self.phrase_start: float | None = None  # time of the first note of the last phrase

    def feed(self, msg: Any, t: float) -> None:
        """Take one message received at time ``t``; ignored while not listening."""
        if msg.type not in ("note_on", "note_off"):
            return
        with self._lock:
            if not self.listening:
                return
            self._last = t
            on = msg.type == "note_on" and msg.velocity > 0
            if msg.note in self._held:  # a note-off, or a re-struck key
                start, velocity = self._held.pop(msg.note)
                self._done.append((start, t, msg.note, velocity))
            if on:
                self._held[msg.note] = (t, msg.velocity)

    def take_phrase(self, now: float) -> list[Note] | None:
        """Return the finished phrase (beats from its first note) and forget it, or None."""
        with self._lock:
            if not self._done or self._held or now - self._last < self.silence:
                return None
            first = min(on for on, _, _, _ in self._done)
            spb = 60.0 / self.tempo
            notes = sorted(
                Note(
                    round((on - first) / spb, 6),
                    pitch,
                    max(round((off - on) / spb, 6), 1e-3),
                    max(1, min(127, vel)),
                )
                for on, off, pitch, vel in self._done
            )
            self._done.clear()
            self.phrase_start = first
            return notes

    def set_listening(self, listening: bool) -> None:
        """Start or stop taking input; stopping forgets held keys and partial phrases."""
        with self._lock:
            self.listening = listening
            self._held.clear()
            self._done.clear()


@dataclass(frozen=True)
class JamConfig:
    """Turn-taking settings of ``composer jam``."""

    answer_bars: int = 2  # bars of answer, >= 1
    silence_beats: float | None = None  # beats of silence ending a phrase; None = one bar
    rounds: int = 0  # answers before stopping; 0 = until stopped
    poll: float = 0.01  # seconds between checks for a finished phrase, > 0

    def __post_init__(self) -> None:
        if self.answer_bars < 1:
            raise ValueError(f"answer_bars must be >= 1, got {self.answer_bars}")
        if self.silence_beats is not None and not self.silence_beats > 0:
            raise ValueError(f"silence_beats must be > 0, got {self.silence_beats}")
        if self.rounds < 0:
            raise ValueError(f"rounds must be >= 0, got {self.rounds}")


@dataclass(frozen=True)
class JamResult:
    """What a jam session did."""

    rounds: int  # answers played
    played: list[Note]  # phrases and answers on one beat timeline from the session start


class Jam:
    """Listen, answer, listen again.

    Parameters
    ----------
    listener : PhraseListener
        Fed by the input port's callback.
    port : object
        Output port (``send(msg)``).
    answer : callable
        ``answer(phrase, bars) -> notes`` on the phrase's timeline, starting at
        or after the end of the phrase's last bar.
    config : LiveConfig
        Playback settings of the answers.
    jam : JamConfig
        Turn-taking settings.
    now, sleep : callable
        Clock and sleep, as for :class:`composer.live.Player`.
    """

    def __init__(
        self,
        listener: PhraseListener,
        port: Any,
        answer: Continuation,
        config: LiveConfig = LiveConfig(),
        jam: JamConfig = JamConfig(),
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.listener, self.port, self.answer = listener, port, answer
        self.config, self.jam = config, jam
        self._now, self._sleep = now, sleep
        self._stop = threading.Event()
        self._player: Player | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def stop(self, error: BaseException | None = None) -> None:
        """Stop listening, and stop the answer now playing (its notes are released)."""
        self._error = error
        self._stop.set()
        with self._lock:
            if self._player is not None:
                self._player.stop(error)

    def snapshot(self) -> LiveStatus | None:
        """Status of the answer being played, or None while listening."""
        with self._lock:
            return self._player.snapshot() if self._player is not None else None

    def run(self) -> JamResult:
        """Answer phrases until stopped or ``rounds`` answers are played."""
        spb = 60.0 / self.config.tempo
        t_start = self._now()
        played: list[Note] = []
        rounds = 0
        while not self._stop.is_set() and (self.jam.rounds == 0 or rounds < self.jam.rounds):
            phrase = self.listener.take_phrase(self._now())
            if phrase is None:
                self._sleep(self.jam.poll)
                continue
            self.listener.set_listening(False)
            try:
                offset = ((self.listener.phrase_start or t_start) - t_start) / spb
                played += [dataclasses.replace(n, start=n.start + offset) for n in phrase]
                result = self._answer(phrase)
                if result is not None:
                    offset = (result.start_time - t_start) / spb
                    played += [
                        dataclasses.replace(n, start=n.start + offset) for n in result.played
                    ]
                rounds += 1
            finally:
                self.listener.set_listening(True)
        if self._error is not None:
            raise self._error
        return JamResult(rounds, sorted(played))

    def _answer(self, phrase: list[Note]) -> PlayResult | None:
        bpb = self.config.beats_per_bar
        notes = sorted(self.answer(phrase, self.jam.answer_bars))
        if not notes or self._stop.is_set():
            return None
        # The answer's first bar as beat 0, played on the player's bar lines (counted from the phrase's first
        # note): at the first one after the answer is ready.
        end = max(n.end for n in phrase)
        begin = next_bar_line(end, bpb)
        begin = min(begin, math.floor(notes[0].start / bpb) * bpb)
        shifted = [dataclasses.replace(n, start=n.start - begin) for n in notes]
        cfg = dataclasses.replace(self.config, max_beats=float(self.jam.answer_bars * bpb))
        start_at = None
        if self.listener.phrase_start is not None:
            bar = bpb * 60.0 / self.config.tempo
            start_at = self.listener.phrase_start + begin * 60.0 / self.config.tempo
            ready = self._now() + self.config.latency
            if start_at < ready - 1e-9:
                start_at += math.ceil((ready - start_at) / bar - 1e-9) * bar
        player = Player(shifted, self.port, cfg, now=self._now, sleep=self._sleep, start_at=start_at)
        with self._lock:
            if self._stop.is_set():
                return None
            self._player = player
        try:
            return player.run()
        finally:
            with self._lock:
                self._player = None
