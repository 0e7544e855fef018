"""Writing output files atomically: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputError(Exception):
    """The output file cannot be written; the message says why and what to do."""


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write `text` (or bytes: a PDF) to `path` so that readers see the old file or the whole
    new one, never half."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name, like {path / 'trace.md'}")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{path}: {folder} is a file, not a folder; give a path inside a folder")
    if not folder.is_dir():
        raise OutputError(f"{path}: the folder {folder} does not exist; create it first")
    if path.exists() and not path.is_file():
        # A device or a pipe (/dev/null, /dev/stdout): write into it; renaming a temporary
        # file over it would replace the device itself.
        try:
            with _open(path, text) as f:
                f.write(text)
        except OSError as e:
            raise OutputError(f"{path}: cannot be written ({e.strerror})") from None
        return
    if path.exists() and not path.stat().st_mode & 0o222:
        # The rename would replace a read-only file (and root may write anything): refuse,
        # as cp and editors do, rather than overwrite a file someone protected.
        raise OutputError(f"{path}: the file is read-only; make it writable (chmod u+w) or "
                          "choose another name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OutputError(f"{path}: cannot write in {folder} ({e.strerror}); "
                          "check the folder's permissions") from None
    try:
        with _open(fd, text) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as e:
        # Interrupted or failed: remove the partial temporary file, keep any existing file.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise OutputError(f"{path}: cannot be written ({e.strerror}); check the path and "
                              "its permissions") from None
        raise


def _open(file: Path | int, data: str | bytes):
    if isinstance(data, bytes):
        return open(file, "wb")
    return open(file, "w", encoding="utf-8", newline="\n")
