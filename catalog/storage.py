"""Files in storage as local paths for DuckDB.

FileSystemStorage files are read in place; other backends (S3) are copied once into a local
cache, streamed in chunks."""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from catalog.ingestion.detect import sha256_file


def local_path(name: str) -> Path:
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:
        pass
    cache = Path(settings.WORK_DIR) / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / hashlib.sha256(name.encode()).hexdigest()
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=cache)
        with os.fdopen(fd, "wb") as out, default_storage.open(name, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, target)
    return target


def store_file(local: Path, name: str) -> str:
    """Put a finished local file into storage under `name` (replacing an older one left by an
    interrupted attempt) and return the stored name. On the filesystem the file is moved, not
    copied (it is the caller's scratch file), and appears under its name in one rename; other
    backends get a streamed upload. Callers record the name only after this returns, so a
    half-written file is never referenced."""
    try:
        target = Path(default_storage.path(name))
    except NotImplementedError:
        target = None
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        shutil.move(local, partial)  # a rename on the same disk, a copy across disks
        os.replace(partial, target)
        return name
    if default_storage.exists(name):
        default_storage.delete(name)
    with open(local, "rb") as f:
        return default_storage.save(name, File(f, name=os.path.basename(name)))


def remove_stale_work_dirs(prefix: str, cutoff: datetime.datetime) -> None:
    """Remove the work directories `<prefix>*` in WORK_DIR untouched since `cutoff`. A run that
    ends, however it ends, removes its own work directory; one untouched for longer than any run
    may last belongs to a worker that was killed."""
    if not prefix:
        raise ValueError("Name the work directories' prefix: an empty one matches all of WORK_DIR.")
    root = Path(settings.WORK_DIR)
    if not root.exists():
        return
    for path in root.glob(f"{prefix}*"):
        if path.is_dir() and path.stat().st_mtime < cutoff.timestamp():
            shutil.rmtree(path, ignore_errors=True)


def sha256_of(path: Path) -> str:
    return sha256_file(path)
