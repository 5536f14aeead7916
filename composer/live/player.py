"""Live playback: beat-timed notes become MIDI messages sent at absolute deadlines.

:class:`Player` is a look-ahead scheduler.  A producer thread pulls notes from
any iterator (the model's :func:`composer.generation.stream_notes`, a list, a
test source) and fills a queue of beat-stamped events until it is
``lookahead`` seconds ahead of playback.  The sender (the thread that calls
:meth:`Player.run`) turns each event's beat into a deadline through a tempo map
anchored at the start time, so no error accumulates; it sleeps until about
``spin`` seconds before the deadline and then spins.  Tempo changes
(:meth:`Player.set_tempo`) take effect at the next beat.

Time and I/O are injected: ``now`` and ``sleep`` functions and any port-like
object with ``send(msg)``, so tests drive the scheduler with a fake clock.

Whatever ends playback (the end of the notes, :meth:`Player.stop`, an
exception, a port that fails) the sender sends a note-off for every sounding
note, tracked by ``(channel, pitch)``, then All Notes Off (CC 123) and All Sound
Off (CC 120), and a MIDI Stop when it sent clock.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from composer.errors import PortError
from composer.events import Note
from composer.live.timeline import CLOCK_PPQN, NoteEvent, TempoMap, note_events

CC_ALL_SOUND_OFF = 120
CC_ALL_NOTES_OFF = 123
SWITCH_INTERVAL = 0.0005  # seconds; GIL hand-over interval while playing (Python's default: 0.005)


@dataclass(frozen=True)
class LiveConfig:
    """How notes are played on a port."""

    tempo: float = 120.0  # beats (quarter notes) per minute, 20-400
    channel: int = 1  # MIDI channel as users count it, 1-16
    program: int | None = None  # General MIDI program 0-127 sent at start; None = leave as is
    beats_per_bar: int = 4  # for the bar counter and --bars, >= 1
    lookahead: float = 3.0  # seconds of music queued ahead of playback, > 0
    prefill: float = 0.5  # seconds of music queued before starting (or the source's end), >= 0
    latency: float = 0.05  # seconds from the start decision to beat 0, >= 0
    clock_out: bool = False  # send 24-ppqn MIDI clock with Start and Stop
    max_beats: float | None = None  # stop at this beat, cutting notes; None = the notes' end
    max_seconds: float | None = None  # stop after this many seconds of playback; None = no limit
    spin: float = 0.001  # seconds before a deadline at which sleeping turns into spinning, >= 0
    max_sleep: float = 0.02  # longest single sleep (stop and tempo requests are seen this fast)
    late_tolerance: float = 0.005  # seconds after its deadline at which a message counts as late

    def __post_init__(self) -> None:
        if not 20 <= self.tempo <= 400:
            raise ValueError(f"tempo must be 20-400 bpm, got {self.tempo}")
        if not 1 <= self.channel <= 16:
            raise ValueError(f"channel must be 1-16, got {self.channel}")
        if self.program is not None and not 0 <= self.program <= 127:
            raise ValueError(f"program must be 0-127, got {self.program}")
        if self.beats_per_bar < 1:
            raise ValueError(f"beats_per_bar must be >= 1, got {self.beats_per_bar}")
        # Durations in seconds: "lookahead" and "max_sleep" must be > 0, the others >= 0.
        for name in ("lookahead", "prefill", "latency", "spin", "late_tolerance", "max_sleep"):
            value, positive = getattr(self, name), name in ("lookahead", "max_sleep")
            if (not value > 0) if positive else value < 0:
                raise ValueError(f"{name} must be {'>' if positive else '>='} 0 seconds, got {value}")
        for name in ("max_beats", "max_seconds"):  # optional limits
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")


@dataclass(frozen=True)
class LiveStatus:
    """A snapshot of a running :class:`Player`, cheap to take from another thread."""

    state: str  # "waiting" (filling the queue), "playing" or "stopped"
    beat: float  # current beat (0 before the start)
    bar: int  # 1-based bar number
    tempo: float  # current bpm
    notes_per_second: float  # note-ons sent over the last 2 seconds, per second
    queue_seconds: float  # how far the queue reaches ahead of now, in seconds
    queue_events: int  # events waiting in the queue
    notes_sent: int  # note-ons sent so far
    late: int  # messages sent more than late_tolerance after their deadline


@dataclass(frozen=True)
class PlayResult:
    """What :meth:`Player.run` did."""

    reason: str  # "end", "max_beats", "max_seconds", "stopped" or "error"
    beats: float  # beat reached
    notes_sent: int  # note-ons sent
    late: int  # messages sent late (see LiveConfig.late_tolerance)
    played: list[Note]  # what sounded, on the beat timeline (for --record)
    start_time: float  # clock time of beat 0 (from ``now``)


PRODUCER_NICE = 10  # the look-ahead producer yields the CPU to the sender and the MIDI drivers


def _lower_priority() -> None:
    """Make the calling thread nicer (on Linux, niceness is per thread).

    The model's bursts of work then never delay the sender or a JACK/ALSA thread on a machine
    with few cores; the queue's look-ahead absorbs the producer's own slowdown.  Elsewhere, or
    if refused, nothing happens.
    """
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + PRODUCER_NICE)


class Player:
    """Play beat-timed notes on a port with a look-ahead scheduler.

    Parameters
    ----------
    notes : iterable of Note
        In non-decreasing start order, beats from 0; may be endless.
    port : object
        Anything with ``send(msg)`` taking ``mido.Message`` objects.
    config : LiveConfig
        Tempo, channel, look-ahead, limits.
    now : callable
        Monotonic clock in seconds (``time.monotonic``).
    sleep : callable
        Sleeps for a number of seconds (``time.sleep``).
    on_send : callable, optional
        ``on_send(deadline, sent_at, msg)`` after each scheduled message (for
        timing measurements; runs on the sender thread, so keep it cheap).

    Examples
    --------
    >>> player = Player(notes, port, LiveConfig(tempo=96))    # doctest: +SKIP
    >>> result = player.run()                                 # doctest: +SKIP
    """

    def __init__(
        self,
        notes: Iterable[Note],
        port: Any,
        config: LiveConfig = LiveConfig(),
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_send: Callable[[float, float, Any], None] | None = None,
        start_at: float | None = None,
    ) -> None:
        import mido

        self._mido = mido
        self._start_at = start_at  # beat 0's time (on ``now``'s clock), if later than the latency allows
        self.config = config
        self._notes = notes
        self._port = port
        self._now = now
        self._sleep = sleep
        self._on_send = on_send
        self._ch = config.channel - 1
        self._cond = threading.Condition()
        self._queue: deque[NoteEvent] = deque()
        self._done = False  # the producer has queued everything
        self._stop_reason: str | None = None
        self._error: BaseException | None = None
        self._tempo = TempoMap(0.0, config.tempo)
        self._started = False
        self._sounding: dict[tuple[int, int], int] = {}  # (channel, pitch) -> note-ons open
        self._open: dict[int, tuple[float, int]] = {}  # pitch -> (start beat, velocity) for record
        self._played: list[Note] = []
        self._recent: deque[float] = deque(maxlen=1024)  # send times of note-ons
        self._beat = 0.0
        self._next_tick = 0  # index of the next clock tick
        self._notes_sent = 0
        self._late = 0

    # -- control, from any thread ------------------------------------------------------------

    def set_tempo(self, bpm: float) -> None:
        """Change the tempo from the next beat on (at once before playback starts).

        Raises
        ------
        ValueError
            If ``bpm`` is outside 20-400.
        """
        if not 20 <= bpm <= 400:
            raise ValueError(f"tempo must be 20-400 bpm, got {bpm}")
        with self._cond:
            if not self._started:
                self._tempo = TempoMap(0.0, bpm)
            else:
                beat = self._tempo.beat_at(self._now())
                self._tempo.change(math.floor(beat) + 1.0, bpm)
            self._cond.notify_all()

    @property
    def started(self) -> bool:
        """Whether playback has begun (beat 0 has a time)."""
        with self._cond:
            return self._started

    def sync(self, beat: int, at: float, bpm: float) -> None:
        """Follow a master clock: its ``beat`` fell at time ``at`` (its tick's arrival), its tempo ``bpm``.

        The tempo bends so that the next beat comes when the master's will (``at`` plus a beat at ``bpm``):
        a phase error is made up within that beat, without a jump; then ``bpm`` holds.  Before playback
        begins it only sets the tempo.
        """
        bpm = min(400.0, max(20.0, bpm))
        with self._cond:
            if not self._started:
                self._tempo = TempoMap(0.0, bpm)
                return
            now = self._now()
            here = self._tempo.beat_at(now)
            target, when = beat + 1.0, at + 60.0 / bpm
            if target - here < 0.25 or when - now < 0.25 * 60.0 / bpm:  # too near to bend: the master's tempo
                self._tempo.change(here, bpm)
            else:
                bend = 60.0 * (target - here) / (when - now)
                self._tempo.change(here, min(400.0, max(20.0, bpm / 1.5, min(bpm * 1.5, bend))))
                self._tempo.change(target, bpm)
            self._cond.notify_all()

    def stop(self, error: BaseException | None = None) -> None:
        """Ask :meth:`run` to stop soon (within ``max_sleep``); ``error`` is raised by it."""
        with self._cond:
            if self._stop_reason is None:
                self._stop_reason = "error" if error is not None else "stopped"
            if error is not None and self._error is None:
                self._error = error
            self._cond.notify_all()

    def snapshot(self) -> LiveStatus:
        """Return the current state, for a status line; never blocks playback for long."""
        with self._cond:
            t = self._now()
            beat = self._tempo.beat_at(t) if self._started else 0.0
            ahead = 0.0
            if self._started and self._queue:
                ahead = max(0.0, self._tempo.time_at(self._queue[-1].beat) - t)
            recent = sum(1 for s in self._recent if t - s <= 2.0)
            state = "stopped" if self._stop_reason else ("playing" if self._started else "waiting")
            return LiveStatus(
                state=state,
                beat=max(0.0, beat),
                bar=int(max(0.0, beat) // self.config.beats_per_bar) + 1,
                tempo=self._tempo.bpm,
                notes_per_second=recent / 2.0,
                queue_seconds=ahead,
                queue_events=len(self._queue),
                notes_sent=self._notes_sent,
                late=self._late,
            )

    # -- producer thread ----------------------------------------------------------------------

    def _ahead(self, beat: float) -> float:
        if not self._started:
            return beat * 60.0 / self._tempo.bpm
        return self._tempo.time_at(beat) - self._now()

    def _produce(self) -> None:
        _lower_priority()
        try:
            for ev in note_events(self._notes, self.config.max_beats):
                with self._cond:
                    # Always allowed into an empty queue, so the sender never waits on a
                    # producer that waits on the clock.
                    while (
                        self._stop_reason is None
                        and self._queue
                        and self._ahead(ev.beat) > self.config.lookahead
                    ):
                        self._cond.wait(self.config.max_sleep)
                    if self._stop_reason is not None:
                        return
                    self._queue.append(ev)
                    self._cond.notify_all()
        except BaseException as exc:  # the model failed: stop cleanly, then re-raise in run()
            self.stop(exc)
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    # -- sender -------------------------------------------------------------------------------

    def run(self) -> PlayResult:
        """Play until the notes end, a limit is reached or :meth:`stop` is called.

        Returns
        -------
        PlayResult
            Why it stopped, and what was played.

        Raises
        ------
        PortError
            If sending fails (the port closed or vanished); notes are still released.
        BaseException
            Whatever the note source or :meth:`stop` passed on, after the clean stop.
        """
        producer = threading.Thread(
            target=self._produce, name="composer-live-producer", daemon=True
        )
        producer.start()
        reason = "error"
        # The sender must get the GIL back quickly when it wakes while the producer (the
        # model) runs Python code: shorten the interpreter's switch interval while playing.
        old_switch = sys.getswitchinterval()
        sys.setswitchinterval(min(old_switch, SWITCH_INTERVAL))
        try:
            self._wait_prefill()
            if self._stop_reason is None:
                self._begin()
            reason = self._loop()
        finally:
            self._release()
            sys.setswitchinterval(old_switch)
            with self._cond:
                if self._stop_reason is None:
                    self._stop_reason = reason
                self._cond.notify_all()
        if self._error is not None:
            raise self._error
        return PlayResult(
            reason,
            self._beat,
            self._notes_sent,
            self._late,
            sorted(self._played),
            self._tempo.time_at(0.0),
        )

    def _wait_prefill(self) -> None:
        spb = 60.0 / self._tempo.bpm
        with self._cond:
            while self._stop_reason is None and not self._done:
                if self._queue and self._queue[-1].beat * spb >= self.config.prefill:
                    break
                self._cond.wait(self.config.max_sleep)

    def _begin(self) -> None:
        cfg = self.config
        if cfg.program is not None:
            self._send(self._mido.Message("program_change", channel=self._ch, program=cfg.program))
        with self._cond:
            self._tempo = TempoMap(max(self._now() + cfg.latency, self._start_at or 0.0), self._tempo.bpm)
            self._started = True
        if cfg.clock_out:
            self._send(self._mido.Message("start"))

    def _next(self) -> tuple[float, NoteEvent | None] | None:
        """Return the next thing to send: (beat, event), (beat, None) for a clock tick, or None."""
        tick = self._next_tick / CLOCK_PPQN if self.config.clock_out else math.inf
        ev = self._queue[0] if self._queue else None
        if ev is None and not self._done:
            return None  # the producer is behind: wait for it
        if ev is not None and ev.beat < tick:
            return ev.beat, ev
        if ev is None and not self.config.clock_out:
            return math.inf, None
        return tick, None

    def _loop(self) -> str:
        cfg = self.config
        end_time = None
        while True:
            with self._cond:
                if self._stop_reason is not None:
                    return self._stop_reason
                nxt = self._next()
                if nxt is None:
                    self._cond.wait(cfg.max_sleep)
                    continue
                beat, ev = nxt
                if ev is None and self._done and not self._queue:
                    return "end"  # nothing left but clock ticks
                deadline = self._tempo.time_at(beat)
                if end_time is None and cfg.max_seconds is not None:
                    end_time = self._tempo.time_at(0.0) + cfg.max_seconds
                stop: tuple[float, str] | None = None
                # the end: nothing starts at it (a note there would be cut at once, a click), but a note
                # ending on it ends; the release comes at the end's own time, not at the last event's
                if cfg.max_beats is not None and (beat > cfg.max_beats or (
                        beat == cfg.max_beats and (ev is None or ev.kind == 1))):
                    stop = (self._tempo.time_at(cfg.max_beats), "max_beats")
                if end_time is not None and deadline >= end_time and (stop is None or end_time < stop[0]):
                    stop = (end_time, "max_seconds")
            if stop is not None:
                if not self._wait_until(stop[0]):
                    continue
                return stop[1]
            if not self._wait_until(deadline):
                continue  # woke early: re-read the queue, the tempo and the stop flag
            self._emit(beat, ev, deadline)

    def _wait_until(self, deadline: float) -> bool:
        """Sleep toward ``deadline``; True once it is reached (after a short spin)."""
        remaining = deadline - self._now()
        if remaining > self.config.spin:
            self._sleep(min(remaining - self.config.spin, self.config.max_sleep))
            return False
        while self._now() < deadline:
            pass
        return True

    def _emit(self, beat: float, ev: NoteEvent | None, deadline: float) -> None:
        mido = self._mido
        t = self._now()
        if t - deadline > self.config.late_tolerance:
            self._late += 1
        self._beat = beat
        if ev is None:
            self._next_tick += 1
            self._send(mido.Message("clock"), deadline)
            return
        with self._cond:
            self._queue.popleft()
            self._cond.notify_all()
        key = (self._ch, ev.pitch)
        if ev.kind == 1:
            if self._sounding.get(key, 0):  # same pitch again: re-attack it
                self._send(mido.Message("note_off", channel=self._ch, note=ev.pitch), deadline)
                self._close_record(ev.pitch, beat)
            # Counted before sending: an interrupt between the two leaves an extra note-off, never
            # a stuck note.
            self._sounding[key] = self._sounding.get(key, 0) + 1
            self._open[ev.pitch] = (beat, ev.velocity)
            self._send(
                mido.Message("note_on", channel=self._ch, note=ev.pitch, velocity=ev.velocity),
                deadline,
            )
            with self._cond:  # snapshot() reads these from another thread
                self._notes_sent += 1
                self._recent.append(t)
        elif self._sounding.get(key, 0):
            if self._sounding[key] == 1:
                self._send(mido.Message("note_off", channel=self._ch, note=ev.pitch), deadline)
                self._close_record(ev.pitch, beat)
                del self._sounding[key]
            else:
                self._sounding[key] -= 1

    def _close_record(self, pitch: int, beat: float) -> None:
        opened = self._open.pop(pitch, None)
        if opened is not None:
            start, velocity = opened
            self._played.append(Note(start, pitch, max(beat - start, 1e-3), velocity))

    def _send(self, msg: Any, deadline: float | None = None) -> None:
        try:
            self._port.send(msg)
        except Exception as exc:
            name = getattr(self._port, "name", "the MIDI port")
            raise PortError(f"cannot send to {name} (closed or gone): {exc}") from None
        if deadline is not None and self._on_send is not None:
            self._on_send(deadline, self._now(), msg)

    def _release(self) -> None:
        """Silence everything: note-offs for sounding notes, CC 123, CC 120, clock Stop."""
        mido = self._mido
        beat = self._tempo.beat_at(self._now()) if self._started else 0.0
        if self.config.max_beats is not None:
            beat = min(beat, self.config.max_beats)
        msgs = [mido.Message("note_off", channel=ch, note=pitch) for (ch, pitch) in self._sounding]
        for pitch in list(self._open):
            self._close_record(pitch, max(beat, self._beat))
        self._sounding.clear()
        msgs.append(mido.Message("control_change", channel=self._ch, control=CC_ALL_NOTES_OFF))
        msgs.append(mido.Message("control_change", channel=self._ch, control=CC_ALL_SOUND_OFF))
        if self.config.clock_out and self._started:
            msgs.append(mido.Message("stop"))
        failed = None
        for msg in msgs:  # try every message even if one fails
            try:
                self._port.send(msg)
            except Exception as exc:
                failed = exc
        if failed is not None and self._error is None:
            name = getattr(self._port, "name", "the MIDI port")
            self._error = PortError(f"cannot send to {name} (closed or gone): {failed}")

