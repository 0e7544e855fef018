"""Writing output files atomically: a temporary file in the same folder, then a rename.

What the rename must never replace: a symbolic link (the file it points to is written
instead), a device, a FIFO or a name for one of our own streams like /dev/stdout (those are
written into directly), a read-only file, or a file that is one of the command's inputs.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class OutputError(Exception):
    """The output file cannot be written; the message says why and what to do."""


# /dev/stdout -> /proc/self/fd/1: a name for a descriptor this process already holds
_FD_LINK = re.compile(r"/(?:proc/[^/]+|dev)/fd/\d+\Z")


def _is_fd_name(path: Path) -> bool:
    """Does `path` (or a link on the way to what it names) name an open file descriptor?"""
    name = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on a chain of links
        if _FD_LINK.match(name):
            return True
        if not os.path.islink(name):
            return False
        name = os.path.join(os.path.dirname(name), os.readlink(name))
        name = os.path.normpath(name)
    return False


def _target(path: Path) -> tuple[Path, bool]:
    """Where to write for `path`, and whether to write there directly (not by rename)."""
    if _is_fd_name(path):
        return path, True  # `-o /dev/stdout > file`: write into the open stream
    try:
        mode = os.stat(path).st_mode  # follows links
    except (FileNotFoundError, NotADirectoryError):  # _check says what is missing
        mode = None
    except OSError as e:
        raise OutputError(f"{path}: cannot be written ({e.strerror}); check the path") from None
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        return path, True  # a device or a FIFO (/dev/null): renaming would replace it
    # A link (even a dangling one) is written through: the file it names gets the text.
    return (Path(os.path.realpath(path)) if os.path.islink(path) else path), False


def _check(path: Path, shown: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"{shown}: is a folder; give a file name, like {shown / 'trace.md'}")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{shown}: {folder} is a file, not a folder; give a path inside a folder")
    if not folder.is_dir():
        raise OutputError(f"{shown}: the folder {folder} does not exist; create it first")
    if path.exists() and not path.stat().st_mode & 0o222:
        # The rename would replace a read-only file (and root may write anything): refuse,
        # as cp and editors do, rather than overwrite a file someone protected.
        raise OutputError(f"{shown}: the file is read-only; make it writable (chmod u+w) or "
                          "choose another name")


def _open(path: Path, mode: str, text: str | bytes):
    """A file object for `text`: binary for bytes (a PDF), UTF-8 with \\n line ends for str."""
    if isinstance(text, bytes):
        return open(path, mode + "b")
    return open(path, mode, encoding="utf-8", newline="\n")


def _write_direct(path: Path, text: str | bytes) -> None:
    try:
        # "a" on a stream name: `-o /dev/stdout >> log` must append, not truncate the log
        with _open(path, "a" if _is_fd_name(path) else "w", text) as f:
            f.write(text)
    except OSError as e:
        raise OutputError(f"{path}: cannot be written ({e.strerror})") from None


@dataclass
class _Staged:
    """One output, written beside its place (`tmp`) and waiting to be put there; or, for a
    device or a stream (`tmp` None), waiting to be written directly."""

    path: Path
    shown: Path
    text: str | bytes
    tmp: str | None = None

    def commit(self) -> None:
        if self.tmp is None:
            _write_direct(self.path, self.text)
            return
        try:
            os.replace(self.tmp, self.path)
        except BaseException as e:
            self.discard()
            if isinstance(e, OSError):
                raise OutputError(f"{self.shown}: cannot be written ({e.strerror})") from None
            raise

    def discard(self) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass


def _stage(shown: Path, text: str | bytes) -> _Staged:
    """Write `text` to a temporary file beside its place. A failure removes the temporary
    file and raises OutputError; so does an interruption (Ctrl-C, or SIGTERM, which bpwalk's
    main turns into SystemExit)."""
    path, direct = _target(shown)
    staged = _Staged(path, shown, text)
    if direct:
        return staged
    _check(path, shown)
    folder = path.parent if str(path.parent) else Path(".")
    import tempfile  # here: it imports random, which every other command would pay for

    try:
        fd, staged.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OutputError(f"{shown}: cannot write in {folder} ({e.strerror}); "
                          "check the folder's permissions") from None
    try:
        with (os.fdopen(fd, "wb") if isinstance(text, bytes)
              else os.fdopen(fd, "w", encoding="utf-8", newline="\n")) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(staged.tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(staged.tmp, 0o666 & ~umask)
    except BaseException as e:
        staged.discard()
        if isinstance(e, OSError):
            raise OutputError(f"{shown}: cannot be written ({e.strerror}); check the path and "
                              "its permissions") from None
        raise
    return staged


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write `text` (or bytes: a PDF) to `path` so that readers see the old file or the whole
    new one, never half."""
    _stage(path, text).commit()


def write_together(files: Iterable[tuple[Path, str | bytes]]) -> None:
    """Write several files so that a failure leaves none of them changed: each is staged
    beside its place first, and only when all are staged are they put in place. Two
    processes writing the same files at once leave all of them from one of the two: the
    renames are made under a lock (see _locked)."""
    files = list(files)
    staged: list[_Staged] = []
    try:
        for path, text in files:
            staged.append(_stage(path, text))
    except BaseException:
        for one in staged:
            one.discard()
        raise
    with _locked([path for path, _ in files]):
        for one in staged:
            one.commit()


@contextmanager
def _locked(paths: list[Path]) -> Iterator[None]:
    """An advisory lock (flock) on the folder of the first of `paths` in sorted order, so
    that every process writing the same set locks the same folder, and leaves no lock file
    behind. Without flock (Windows), or a folder that cannot be opened, no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    folders = sorted(os.path.dirname(os.path.abspath(path)) for path in paths)
    try:
        fd = os.open(folders[0], os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def same_file(a: Path, b: Path) -> bool:
    """Do `a` and `b` name the same existing file (through links, ./, hard links)?"""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
