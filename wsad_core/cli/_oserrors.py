"""One line for an operating-system error: what happened to which path, and what to do about it."""

from __future__ import annotations

import errno

__all__ = ["describe_os_error"]

_RESUME = "a run that had started is marked failed and continues with the same command plus --resume"

_HINTS = {
    errno.ENOSPC: "the disk is full: free space or choose another --out (or $WSAD_CACHE); " + _RESUME,
    errno.EDQUOT: "the disk quota is exceeded: free space or choose another --out; " + _RESUME,
    errno.EROFS: "the file system is read-only: choose a writable --out (or $WSAD_CACHE); " + _RESUME,
    errno.EACCES: "no permission: choose a folder you can write to, or fix its permissions; " + _RESUME,
    errno.EPERM: "not permitted: choose a folder you can write to, or fix its permissions; " + _RESUME,
    errno.ENOENT: "the path does not exist (a folder removed while wsad ran?); " + _RESUME,
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "the path is a folder where a file was expected: choose another path",
    errno.ELOOP: "the path is a symbolic link that loops: fix or remove the link",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and rerun with --resume",
}


def describe_os_error(error: OSError) -> tuple[str, str]:
    """``(message, hint)`` for ``error``: the failing operation's path(s), the reason, and a next step."""
    reason = error.strerror or type(error).__name__
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    where = " -> ".join(paths) if paths else "a file or folder"
    code = f" ({errno.errorcode[error.errno]})" if error.errno in errno.errorcode else ""
    hint = _HINTS.get(error.errno or -1, f"check {where}; " + _RESUME)
    return f"{where}: {reason}{code}", hint
