"""Writing files safely: atomic writes and the overwrite rule, for every artifact we write.

MIDI files, checkpoints, model cards, corpus records, analyses, plots: each is
written to a temp file in the target folder, flushed to disk and renamed, so a
reader sees the old file or the new one, never half of one (a full disk or a
kill leaves the old file).  Without ``force`` an existing file is never
replaced, not even one that appears while we write.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from composer.errors import OutputError


def refuse_overwrite(path: str | Path, force: bool) -> None:
    """Raise the one "exists" error unless ``force`` or ``path`` is free.

    Commands call it before long work (sampling, playing) so a user does not wait to learn it;
    :func:`write_bytes_atomic` applies the same rule again when it writes.

    Raises
    ------
    OutputError
        If ``path`` exists and ``force`` is false.
    """
    if not force and Path(path).exists():
        raise OutputError(f"{path} exists (use --force to overwrite)")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_no_clobber(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path`` unless something appeared there meanwhile (hard link: atomic)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        refuse_overwrite(path, force=False)
        raise
    except OSError:  # no hard links on this file system: best effort
        refuse_overwrite(path, force=False)
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def write_bytes_atomic(data: bytes, path: str | Path, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically: the old file or the new one, never half.

    Raises
    ------
    OutputError
        If ``path`` exists and ``force`` is false, or the folder is not writable,
        or the disk is full (the partial temp file is removed).
    """
    path = Path(path)
    refuse_overwrite(path, force)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create folder {folder}: {exc.strerror}") from None
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        if hasattr(os, "fchmod"):  # mkstemp makes 0600; give the file the mode open() would
            try:
                os.fchmod(fd, 0o666 & ~_umask())
            except OSError:
                os.close(fd)
                raise
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, path)
        else:
            _publish_no_clobber(tmp, path)
        tmp = None
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def publish_file(tmp: str | Path, path: str | Path, *, force: bool = False) -> Path:
    """Move the finished file ``tmp`` (in ``path``'s folder) to ``path`` by the overwrite rule.

    For outputs another program writes (FluidSynth's WAV): the file is synced and given the
    mode ``open()`` would give, then renamed (``force``) or hard-linked (never over a file
    that appeared meanwhile).

    Raises
    ------
    OutputError
        If ``path`` exists and ``force`` is false, or the file cannot be synced or moved.
    """
    path = Path(path)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if force:
            os.replace(tmp, path)
        else:
            _publish_no_clobber(str(tmp), path)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


class NotARegularFile(ValueError):
    """A path to be read that is a FIFO, a device, a socket (or a link to one), or too big."""


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path`` (symlinks followed), at most ``max_bytes`` of them.

    The file is opened without blocking (a FIFO with no writer would block ``open``) and checked on
    the open descriptor, so a FIFO, ``/dev/zero`` or a link to either is refused before any read,
    and a file that grows while it is read stops at ``max_bytes + 1``.

    Raises
    ------
    NotARegularFile
        Saying what the path is instead, or its size over the limit.
    OSError
        If it cannot be opened or read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            mode = st.st_mode
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
            raise NotARegularFile(f"is {kind}, not a regular file")
        if st.st_size > max_bytes:
            raise NotARegularFile(f"{st.st_size} bytes is over the limit of {max_bytes}")
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise NotARegularFile(f"over the limit of {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)
