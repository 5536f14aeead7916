"""MIDI ports: listing and opening them through mido's rtmidi backends.

An *API* is one of rtmidi's MIDI systems: ``alsa``, ``jack``, ``coremidi`` or
``winmm`` (or a full mido backend name such as
``mido.backends.rtmidi/UNIX_JACK``).  Ports are matched by case-insensitive
substring; an exact name wins over a substring match.  Every failure is a
:class:`~composer.errors.PortError` whose message lists the ports that exist.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from composer.errors import InputError, PortError

#: Short API names -> rtmidi API names (as mido's backend suffix).
API_ALIASES: dict[str, str] = {
    "alsa": "LINUX_ALSA",
    "jack": "UNIX_JACK",
    "coremidi": "MACOSX_CORE",
    "winmm": "WINDOWS_MM",
}
_RTMIDI = "mido.backends.rtmidi"
CLIENT_NAME = "composer"  # the client name other programs see (JACK/ALSA)


@dataclass(frozen=True)
class PortInfo:
    """One MIDI port as listed by :func:`list_ports`."""

    api: str  # short API name, e.g. "jack"
    direction: str  # "input" (we can read from it) or "output" (we can send to it)
    name: str  # the full port name as the API reports it


def backend_name(api: str | None) -> str:
    """Return the mido backend name for an API name.

    Parameters
    ----------
    api : str or None
        ``alsa``, ``jack``, ``coremidi``, ``winmm`` (any case), a full mido
        backend name (containing ``.``), or None for rtmidi's default API.

    Raises
    ------
    InputError
        If the name is none of these.
    """
    if api is None or api == "":
        return _RTMIDI
    if "." in api:
        return api
    key = api.lower()
    if key in API_ALIASES:
        return f"{_RTMIDI}/{API_ALIASES[key]}"
    raise InputError(
        f"unknown MIDI API {api!r}: use one of {', '.join(API_ALIASES)} or a mido backend name"
    )


def available_apis() -> list[str]:
    """Short names of the rtmidi APIs compiled into python-rtmidi on this system."""
    import rtmidi

    names = {v: k for k, v in API_ALIASES.items()}
    out = []
    for api in rtmidi.get_compiled_api():
        rt_name = rtmidi.get_api_name(api)  # e.g. "jack", "alsa", "core", "winmm"
        for short, long in API_ALIASES.items():
            if long.lower().endswith(rt_name.lower()) or short == rt_name.lower():
                out.append(names[long])
                break
    return out


ALSA_SEQ = "/dev/snd/seq"  # the ALSA sequencer device: rtmidi's default API on Linux needs it


def choose_api(api: str | None) -> tuple[str | None, str]:
    """The API to open ports with, and why (a few words for the user).

    The one asked for; else, on Linux without the ALSA sequencer (containers, PipeWire-only
    or JACK-only systems), JACK when python-rtmidi has it; else rtmidi's default (ALSA on
    Linux, CoreMIDI, Windows MM).
    """
    if api:
        return api, "asked for"
    if sys.platform.startswith("linux") and not os.path.exists(ALSA_SEQ) and "jack" in available_apis():
        return "jack", f"this system has no ALSA sequencer ({ALSA_SEQ})"
    return None, "the system's default"


def check_port(direction: str, port: str | None, virtual: str | None, api: str | None) -> str | None:
    """Make sure a port can be had before anything slow happens (loading a model).

    Returns the full name of the existing ``port`` it matches (None for a virtual port).

    Raises
    ------
    PortError
        If no port, or several, match ``port`` (the message lists the ports), the API has no
        MIDI server, or virtual ports are impossible here.
    """
    if (port is None) == (virtual is None):
        raise InputError(f"give exactly one of a {direction} port name or a virtual port name")
    backend = _backend(api)
    if virtual is not None:
        _check_virtual(api)
        return None
    lister = backend.get_output_names if direction == "output" else backend.get_input_names
    with _captured_stderr() as noise:
        try:
            names = list(lister())
        except Exception as exc:  # rtmidi: no server behind this API
            said = noise.first_line()
            detail = str(exc).strip() + (f"; the MIDI system said: {said}" if said else "")
            where = api or "default API"
            raise PortError(f"cannot look for MIDI {direction} port {port!r} ({where}): {detail}") from None
    return match_port(port or "", names, direction)


def list_ports(api: str | None = None) -> tuple[list[PortInfo], dict[str, str]]:
    """List MIDI ports of one API or of every available one.

    Parameters
    ----------
    api : str or None
        Short API name; None lists every API compiled into python-rtmidi.

    Returns
    -------
    ports : list of PortInfo
        Inputs and outputs, per API.
    problems : dict
        API name -> why it could not be queried (e.g. no JACK server running).
    """
    import mido

    apis = [api.lower()] if api else available_apis()
    ports: list[PortInfo] = []
    problems: dict[str, str] = {}
    for short in apis:
        try:
            with _captured_stderr():  # (libjack and ALSA say why on fd 2 too: the problems below say it once)
                backend = mido.Backend(backend_name(short), load=True)
                inputs, outputs = backend.get_input_names(), backend.get_output_names()
            ports += [PortInfo(short, "input", name) for name in inputs]
            ports += [PortInfo(short, "output", name) for name in outputs]
        except InputError:
            raise
        except Exception as exc:  # rtmidi raises SystemError subclasses when an API has no server
            problems[short] = str(exc).strip() or type(exc).__name__
    return ports, problems


def match_port(wanted: str, names: list[str], direction: str) -> str:
    """Pick the one port whose name contains ``wanted`` (case-insensitive).

    An exact (case-insensitive) name wins; several substring matches are an error.

    Raises
    ------
    PortError
        Listing the available ports when none or several match.
    """
    low = wanted.lower()
    exact = [n for n in names if n.lower() == low]
    if exact:
        return exact[0]
    hits = [n for n in names if low in n.lower()]
    if len(hits) == 1:
        return hits[0]
    listing = ", ".join(repr(n) for n in names) or "none"
    if not hits:
        raise PortError(f"no MIDI {direction} port matches {wanted!r}; available: {listing}")
    raise PortError(
        f"{len(hits)} MIDI {direction} ports match {wanted!r}: "
        f"{', '.join(repr(n) for n in hits)}; give more of the name"
    )


def _backend(api: str | None) -> Any:
    import mido

    name = backend_name(api)
    try:
        return mido.Backend(name, load=True)
    except ImportError as exc:
        raise PortError(f"MIDI backend {name} is not available: {exc}") from None


def _check_virtual(api: str | None) -> None:
    if sys.platform == "win32" or (api or "").lower() == "winmm":
        raise PortError(
            "virtual ports are unavailable on Windows (Windows MM) without a loopback driver: "
            "install loopMIDI (or similar), create a port there and pass it with --port"
        )


def open_output(
    port: str | None = None,
    virtual: str | None = None,
    api: str | None = None,
    client_name: str = CLIENT_NAME,
) -> Any:
    """Open a MIDI output: an existing port (``port``) or a new virtual one (``virtual``).

    Parameters
    ----------
    port : str or None
        Substring of an existing output port's name.
    virtual : str or None
        Name of a virtual output port to create (other programs connect to it).
    api : str or None
        rtmidi API (see :func:`backend_name`).
    client_name : str
        Client name shown to other programs.

    Returns
    -------
    mido.ports.BaseOutput
        The open port; close it when done.

    Raises
    ------
    PortError
        If the port does not exist or cannot be opened; the message lists ports.
    """
    return _open("output", port, virtual, api, client_name, None)


def open_input(
    port: str | None = None,
    virtual: str | None = None,
    api: str | None = None,
    client_name: str = CLIENT_NAME,
    callback: Any = None,
) -> Any:
    """Open a MIDI input, like :func:`open_output`; ``callback(msg)`` runs on each message."""
    return _open("input", port, virtual, api, client_name, callback)


def _open(
    direction: str,
    port: str | None,
    virtual: str | None,
    api: str | None,
    client_name: str,
    callback: Any,
) -> Any:
    if (port is None) == (virtual is None):
        raise InputError(f"give exactly one of a {direction} port name or a virtual port name")
    backend = _backend(api)
    opener = backend.open_output if direction == "output" else backend.open_input
    extra = {"callback": callback} if direction == "input" and callback is not None else {}
    with _captured_stderr() as noise:
        try:
            if virtual is not None:
                _check_virtual(api)
                return opener(virtual, virtual=True, client_name=client_name, **extra)
            lister = backend.get_output_names if direction == "output" else backend.get_input_names
            names = list(lister())
            name = match_port(port or "", names, direction)
            return opener(name, **extra)  # mido treats any client_name as 'virtual'
        except PortError:
            raise
        except Exception as exc:
            what = f"virtual {direction} port {virtual!r}" if virtual else f"{direction} port {port!r}"
            said = noise.first_line()
            detail = str(exc).strip() + (f"; the MIDI system said: {said}" if said else "")
            raise PortError(f"cannot open {what} ({backend.name}): {detail}") from None


class _Captured:
    """What the C libraries wrote to file descriptor 2 inside :func:`_captured_stderr`."""

    def __init__(self) -> None:
        self.path: str | None = None

    def first_line(self) -> str:
        if self.path is None:
            return ""
        try:
            with open(self.path, errors="replace") as fh:
                return next((ln.strip() for ln in fh if ln.strip()), "")
        except OSError:
            return ""


@contextlib.contextmanager
def _captured_stderr() -> Iterator[_Captured]:
    """Keep libjack's and ALSA's own messages (written straight to fd 2) off the user's screen."""
    cap = _Captured()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 to redirect
        yield cap
        return
    with tempfile.NamedTemporaryFile(prefix="composer-midi-", suffix=".log", delete=False) as tmp:
        cap.path = tmp.name
    try:
        fd = os.open(cap.path, os.O_WRONLY)
        os.dup2(fd, 2)
        os.close(fd)
        try:
            yield cap
        finally:
            os.dup2(saved, 2)
    finally:
        os.close(saved)
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)



class PortWatch:
    """Whether an open port's name is still listed by its MIDI system (to notice a vanished port).

    Listing through mido opens and closes two MIDI clients per call; a watcher that asks twice a
    second keeps one client of the port's own API open instead.

    Parameters
    ----------
    port : mido port
        An open rtmidi port (mido names its API in ``port.api``, e.g. ``UNIX_JACK``).
    direction : str
        ``"output"`` or ``"input"``: the kind of port ``port`` is.

    Raises
    ------
    PortError
        If the port cannot be watched (not an rtmidi port, or no client could be opened).
    """

    def __init__(self, port: Any, direction: str = "output") -> None:
        import rtmidi

        self.name: str = getattr(port, "name", "")
        self.reason: str | None = None  # why :meth:`exists` said False
        # a JACK client keeps listing the ports it knew after the server has gone: the server's socket tells
        self._server = ServerWatch.of(port)
        rtapi = getattr(rtmidi, f"API_{getattr(port, 'api', '')}", None)
        if rtapi is None:
            raise PortError(f"cannot watch MIDI port {self.name!r}: not an rtmidi port")
        kind = rtmidi.MidiOut if direction == "output" else rtmidi.MidiIn
        with _captured_stderr():
            try:
                self._client = kind(rtapi=rtapi, name=f"{CLIENT_NAME}-watch")
            except Exception as exc:
                raise PortError(f"cannot watch MIDI port {self.name!r}: {exc}") from None

    def exists(self) -> bool:
        """Whether the port is still listed (False when the MIDI system cannot be asked; :attr:`reason` says why)."""
        if self._server is not None and not self._server.exists():
            self.reason = self._server.reason
            return False
        try:
            listed = self.name in self._client.get_ports()
        except Exception:
            listed = False
        if not listed:
            self.reason = f"MIDI port {self.name!r} vanished"
        return listed

    def close(self) -> None:
        """Close the listing client."""
        with contextlib.suppress(Exception):
            self._client.delete()


SERVER_GONE = "the JACK server stopped"


def jack_server_socket() -> str | None:
    """The socket of the JACK server this process's clients use, if found (jackd removes it when it stops).

    jackd2 names it ``jack_<server>_<uid>_0`` in /dev/shm (``$JACK_DEFAULT_SERVER``, else ``default``).
    """
    if not hasattr(os, "getuid"):
        return None
    name = os.environ.get("JACK_DEFAULT_SERVER") or "default"
    for folder in ("/dev/shm", "/tmp"):
        path = os.path.join(folder, f"jack_{name}_{os.getuid()}_0")
        if os.path.exists(path):
            return path
    return None


class ServerWatch:
    """A watch (:class:`Watch`) on a virtual JACK port: gone when its server stops."""

    def __init__(self, name: str, socket_path: str) -> None:
        self.name, self.path = name, socket_path
        self.reason: str | None = None

    @classmethod
    def of(cls, port: Any) -> ServerWatch | None:
        """The watch of an open port, if it is a JACK port whose server's socket is found."""
        path = jack_server_socket() if getattr(port, "api", "") == "UNIX_JACK" else None
        return None if path is None else cls(getattr(port, "name", ""), path)

    def exists(self) -> bool:
        """Whether the JACK server still runs."""
        if os.path.exists(self.path):
            return True
        self.reason = SERVER_GONE
        return False

    def close(self) -> None:
        """Nothing to release."""


class Watch(Protocol):
    """Tells whether a port is still there (:class:`PortWatch`, :class:`ServerWatch`, a synth's)."""

    name: str

    def exists(self) -> bool:
        """Whether the port is still listed."""
        ...

    def close(self) -> None:
        """Release what the watch holds."""
        ...


def watch_of(port: Any, direction: str | None) -> Watch | None:
    """A :class:`PortWatch` on an existing port (``direction``), a :class:`ServerWatch` on a virtual one (None)."""
    if direction is None:
        return ServerWatch.of(port)
    try:
        return PortWatch(port, direction)
    except PortError:
        return None


class Watches:
    """Several watches as one (jam's input and output): gone when any is, with its reason."""

    def __init__(self, *watches: Watch | None) -> None:
        self.watches = [w for w in watches if w is not None]
        self.name = ", ".join(w.name for w in self.watches)
        self.reason: str | None = None

    def exists(self) -> bool:
        """Whether every port is still there."""
        for w in self.watches:
            if not w.exists():
                self.reason = gone(w)
                return False
        return True

    def close(self) -> None:
        """Close every watch."""
        for w in self.watches:
            w.close()


def gone(watch: Watch) -> str:
    """Why ``watch`` said its port is gone."""
    return getattr(watch, "reason", None) or f"MIDI port {watch.name!r} vanished"
