"""Following an external MIDI clock: tempo from the tick rate, Start/Continue/Stop.

:class:`ClockFollower` is fed ``(message, time)`` pairs (from a MIDI input
callback, or a test) and keeps the tempo averaged over the last ``window``
ticks (24 ticks = one beat).  It calls ``on_start``, ``on_stop`` and
``on_tempo`` so that ``composer play --clock-in`` can start, stop and retime a
:class:`composer.live.Player`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from composer.live.timeline import CLOCK_PPQN

MAX_TICK_GAP = 0.5  # seconds; a longer gap between ticks (a paused clock) restarts the average


class ClockFollower:
    """Tempo and transport state of an incoming MIDI clock.

    Parameters
    ----------
    window : int
        Number of tick intervals averaged (24 = one beat), >= 1.
    min_change : float
        Smallest tempo change in bpm reported through ``on_tempo``.
    """

    def __init__(self, window: int = 24, min_change: float = 0.5) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1 tick, got {window}")
        self._intervals: deque[float] = deque(maxlen=window)
        self._last: float | None = None
        self._lock = threading.Lock()
        self.min_change = min_change
        self.tempo: float | None = None  # bpm, once two ticks have arrived
        self.running = False  # between Start/Continue and Stop
        self.started = threading.Event()  # set at the first Start/Continue
        self.on_start: Callable[[], None] | None = None
        self.on_stop: Callable[[], None] | None = None
        self.on_tempo: Callable[[float], None] | None = None
        self.on_beat: Callable[[int, float], None] | None = None  # (beat, its tick's time): every 24th tick
        self._reported: float | None = None
        self._ticks = 0  # ticks since Start

    def feed(self, msg: Any, t: float) -> None:
        """Take one incoming message received at time ``t`` (seconds); others are ignored."""
        callback: Callable[[], None] | None = None
        tempo_cb: tuple[Callable[[float], None], float] | None = None
        beat_cb: tuple[Callable[[int, float], None], int] | None = None
        with self._lock:
            if msg.type == "clock":
                if self.running and self.on_beat is not None and self._ticks % CLOCK_PPQN == 0:
                    beat_cb = (self.on_beat, self._ticks // CLOCK_PPQN)  # (the first tick after Start: beat 0)
                self._ticks += 1
                if self._last is not None and 0 < t - self._last < MAX_TICK_GAP:
                    self._intervals.append(t - self._last)
                    mean = sum(self._intervals) / len(self._intervals)
                    self.tempo = 60.0 / (CLOCK_PPQN * mean)
                    reported = self._reported
                    if self.on_tempo and (
                        reported is None or abs(self.tempo - reported) >= self.min_change
                    ):
                        self._reported = self.tempo
                        tempo_cb = (self.on_tempo, self.tempo)
                self._last = t
            elif msg.type in ("start", "continue"):
                self.running = True
                self._last = None
                self._ticks = 0
                self.started.set()
                callback = self.on_start
            elif msg.type == "stop":
                self.running = False
                callback = self.on_stop
        # Callbacks run outside the lock: they may call back into a Player.
        if tempo_cb is not None:
            tempo_cb[0](tempo_cb[1])
        if beat_cb is not None:
            beat_cb[0](beat_cb[1], t)
        if callback is not None:
            callback()
