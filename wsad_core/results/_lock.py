"""One writer per run directory: ``<dir>/run.lock`` names the process that holds it.

The lock file is created with ``O_CREAT | O_EXCL`` (atomic on local filesystems and NFS v3+)
and holds JSON: pid, host, start time, command and a random token. The lock is on one
directory only, so a benchmark's lock on its root and its jobs' locks on their own folders
never wait for each other.

A lock whose holder is gone is taken over with a warning. On Linux the lock also records the
holder's boot id and process start time, so that a reboot or a reused pid is not mistaken for
the holder. A lock from another host cannot be checked from here: it is refused, and the
message says how to remove it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import secrets
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from wsad_core.errors import RunDirectoryError
from wsad_core.results._serial import utc_now

__all__ = ["LOCK_FILE", "LockOwner", "RunLock"]

log = logging.getLogger("wsad.results")

LOCK_FILE = "run.lock"
#: A lock being written is read again for this long before it counts as unreadable.
_READ_PATIENCE_S = 1.0
#: Locks this process holds, by resolved directory: what a second open in the same process is told.
_HELD: dict[str, RunLock] = {}


@dataclass(frozen=True, slots=True)
class LockOwner:
    """Who holds a lock.

    Attributes:
        pid: the holder's process id.
        host: the holder's host name.
        started_at: when the lock was taken (ISO 8601, UTC).
        command: the holder's command line (shortened), for the message a second opener gets.
        token: random; only the holder that wrote it removes the file.
        boot_id: Linux boot id of the holder's host (``""`` elsewhere).
        proc_start: the holder's start time in clock ticks since boot (Linux; ``-1`` elsewhere).
    """

    pid: int
    host: str
    started_at: str
    command: str
    token: str
    boot_id: str = ""
    proc_start: int = -1

    @classmethod
    def me(cls) -> LockOwner:
        """The owner record of the current process."""
        command = " ".join(sys.argv)
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=utc_now(),
            command=command if len(command) <= 200 else command[:199] + "…",
            token=secrets.token_hex(8),
            boot_id=_boot_id(),
            proc_start=_proc_start(os.getpid()),
        )

    @classmethod
    def from_json(cls, data: Any) -> LockOwner:
        """Parse a lock file's contents.

        Raises:
            ValueError: not a lock record.
        """
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        try:
            return cls(
                pid=int(data["pid"]),
                host=str(data["host"]),
                started_at=str(data.get("started_at", "?")),
                command=str(data.get("command", "")),
                token=str(data["token"]),
                boot_id=str(data.get("boot_id", "")),
                proc_start=int(data.get("proc_start", -1)),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"missing or bad field: {error}") from None

    def describe(self) -> str:
        """``wsad process 123 on host h since … (command)``."""
        command = f" ({self.command})" if self.command else ""
        return f"wsad process {self.pid} on host {self.host} since {self.started_at}{command}"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state first), or ``None``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ")".
    return text[text.rindex(")") + 2 :].split()


def _proc_start(pid: int) -> int:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else -1


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return True  # os.kill would terminate it there: a holder that cannot be checked counts as alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    fields = _proc_stat(pid)
    return not (fields and fields[0] == "Z")


def _stale_reason(holder: LockOwner, directory: Path, lock_path: Path) -> str:
    """Why ``holder`` no longer holds the lock.

    Raises:
        RunDirectoryError: the holder may still be writing (or cannot be checked from this host).
    """
    here = socket.gethostname()
    if holder.host != here:
        raise RunDirectoryError(
            f"{directory} is locked by {holder.describe()}; from host {here} it cannot be checked whether that "
            "process is still running",
            hint=f"if you are sure it is not (e.g. its job was killed), delete {lock_path} and run the command again "
            "(with --resume to continue the run)",
        )
    if holder.boot_id and _boot_id() and holder.boot_id != _boot_id():
        return "the host has restarted since"
    if holder.pid == os.getpid():
        if str(directory.resolve()) in _HELD:
            raise RunDirectoryError(
                f"{directory} is already open in this process (pid {holder.pid})",
                hint="mark the first run finished or failed (or close() it) before opening the folder again",
            )
        return "it names this process, which does not hold it"
    if not _alive(holder.pid):
        return f"process {holder.pid} is not running"
    now_start = _proc_start(holder.pid)
    if holder.proc_start >= 0 and now_start >= 0 and now_start != holder.proc_start:
        return f"pid {holder.pid} now belongs to another process"
    raise RunDirectoryError(
        f"{directory} is in use by {holder.describe()}",
        hint=f"two processes writing one run folder would corrupt it: wait for process {holder.pid} to end (or stop "
        f"it: kill {holder.pid}), then run the command again, with --resume to continue",
    )


def _read(lock_path: Path) -> LockOwner | None:
    """The lock's holder; ``None`` if the file is gone.

    Raises:
        RunDirectoryError: the file stays unreadable (a holder writes it right after creating it).
    """
    deadline = time.monotonic() + _READ_PATIENCE_S
    while True:
        try:
            return LockOwner.from_json(json.loads(lock_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            if time.monotonic() > deadline:
                raise RunDirectoryError(
                    f"{lock_path} exists but does not say who holds it ({error})",
                    hint=f"if no wsad process is using {lock_path.parent}, delete {lock_path} and run the command "
                    "again",
                ) from None
            time.sleep(0.05)


def _create(lock_path: Path, owner: LockOwner) -> bool:
    """Create the lock file for ``owner``; ``False`` if it exists."""
    try:
        fd = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(owner), indent=1) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        lock_path.unlink(missing_ok=True)  # an empty lock would block every later opener (e.g. disk full)
        raise
    return True


class RunLock:
    """The lock this process holds on one directory; take it with :meth:`acquire`.

    Args:
        path: The lock file.
        owner: What it holds (this process).
    """

    def __init__(self, path: Path, owner: LockOwner) -> None:
        self.path = path
        self.owner = owner
        self._key = str(path.parent.resolve())

    @classmethod
    def acquire(cls, directory: Path) -> RunLock:
        """Lock ``directory`` (which must exist) for this process.

        A stale lock (its holder is gone) is taken over with a warning.

        Raises:
            RunDirectoryError: the lock is held by a live process, by this process already, by a
                process on another host, or cannot be read.
        """
        lock_path = directory / LOCK_FILE
        owner = LockOwner.me()
        for _ in range(5):  # a stale lock is removed, then creation is tried again
            if _create(lock_path, owner):
                lock = cls(lock_path, owner)
                _HELD[lock._key] = lock
                return lock
            holder = _read(lock_path)
            if holder is None:
                continue  # released between the two calls
            reason = _stale_reason(holder, directory, lock_path)
            log.warning("taking over the stale lock of %s: %s held it, but %s", directory, holder.describe(), reason)
            # Only the lock just judged stale is removed, not one another process took meanwhile.
            again = _read(lock_path)
            if again is not None and again.token == holder.token:
                lock_path.unlink(missing_ok=True)
        raise RunDirectoryError(
            f"could not lock {directory}: other processes keep taking it", hint="run one wsad command per folder"
        )

    @property
    def held(self) -> bool:
        """Whether this object still holds the lock."""
        return _HELD.get(self._key) is self

    def release(self) -> None:
        """Remove the lock file if it is still this holder's; calling it again does nothing."""
        if _HELD.get(self._key) is self:
            del _HELD[self._key]
        if self.owner.pid != os.getpid():
            return  # a forked child inherits the object, not the lock
        try:
            current = _read(self.path)
        except RunDirectoryError:
            return  # not ours to remove
        if current is not None and current.token == self.owner.token:
            self.path.unlink(missing_ok=True)


@atexit.register
def _release_all() -> None:
    """Release every lock still held when the interpreter exits (a kill leaves a stale lock, taken over later)."""
    for lock in list(_HELD.values()):
        with contextlib.suppress(OSError):
            lock.release()
