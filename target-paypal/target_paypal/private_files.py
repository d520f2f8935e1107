"""Files only their owner may read: the store, its lock, the plan, reconcile's and report's output.

They hold patients' records or IDs (health information), so they are created 0600 and the
folders we create for them 0700, whatever the process's umask: created so (`os.open` with the
mode), not loosened first and tightened after. A store file found open to others is tightened
once, with one warning line naming it (`tighten`).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import IO

OWNER_FILE = 0o600
OWNER_FOLDER = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")

logger = logging.getLogger("target_paypal.private_files")


def private_folder(folder: Path) -> Path:
    """Make `folder` and any missing parents 0700; folders already there are left as they are."""
    folder = Path(folder).expanduser()
    missing = []
    for parent in (folder, *folder.parents):
        if parent.exists():
            break
        missing.append(parent)
    for path in reversed(missing):
        try:
            path.mkdir(mode=OWNER_FOLDER)
        except FileExistsError:  # made meanwhile by another process: theirs to keep
            continue
        os.chmod(path, OWNER_FOLDER)  # mkdir's mode is masked by the umask
    return folder


def open_private(path: Path, mode: str = "w", **kwargs: object) -> IO:
    """Open `path` for writing ("w", "a", "a+"), created 0600; one found looser is set 0600.

    The caller closes it (a `with` block, or the run lock's handle kept open on purpose).
    """
    flags = os.O_CREAT | (os.O_RDWR if "+" in mode else os.O_WRONLY)
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    fd = os.open(path, flags, OWNER_FILE)
    try:
        os.fchmod(fd, OWNER_FILE)
        return os.fdopen(fd, mode, **kwargs)  # type: ignore[call-overload,no-any-return]
    except BaseException:
        os.close(fd)
        raise


def write_private(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` (0600), making its missing folders 0700."""
    private_folder(Path(path).parent)
    with open_private(path, "w", encoding=encoding) as out:
        out.write(text)
    return Path(path)


def create_private_file(path: Path) -> None:
    """Create `path` empty and 0600 unless it exists (SQLite then keeps its mode, WAL and all)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, OWNER_FILE))
    except FileExistsError:
        return


def tighten(path: Path) -> bool:
    """Set a store file and its -wal/-shm/-journal to 0600 if others may read or write them.

    One warning line names the store file (never its contents); returns whether any changed.
    """
    loose = []
    for candidate in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        try:
            mode = stat.S_IMODE(candidate.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(candidate, OWNER_FILE)
            loose.append(f"{candidate.name} was {mode:04o}")
    if loose:
        logger.warning(
            "The store %s was readable or writable by other users (%s): set to 0600, "
            "owner only; check who could read it meanwhile",
            path,
            ", ".join(loose),
        )
    return bool(loose)
