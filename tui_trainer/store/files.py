"""Files that are never half-written and never written through a link, and reads that are bounded.

Every file smtui writes is replaced atomically (write, fsync, rename) or appended by whole lines,
so a kill -9 at any moment leaves the previous good version in place; every JSON file is strict
JSON (no NaN), since other programs read them. Every file smtui reads may come from elsewhere
(another version, a hand edit, another program, another account): a read is bounded in size,
refuses what is not a regular file and says what is wrong in one line. The run directory
(rundir.py) and the settings file (settings.py) are written and read through these alone.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from ..core.errors import SmtuiError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
TMP_MARK = ".tmp"   # `.checkpoint.pt.tmp1234`: a write in progress of process 1234


def open_no_follow(path: Path, flags: int, mode: int = 0o666) -> int:
    """`os.open` that never writes through a link: a run directory may hold files another
    account planted (a `.lock` or `log.txt` linked to ~/.bashrc truncated or appended to it).
    A link is refused with one line. A new file's mode is 0o666 less the umask, as every Unix
    tool's: a team's umask 002 in a setgid folder lets a teammate resume the run."""
    try:
        return os.open(path, flags | NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SmtuiError(f"{path} is a symbolic link: smtui does not write through links in "
                             "a run directory (remove it)") from None
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file and rename: readers see the old or the new file.
    The temp file is created afresh (never a link or a file left there); the rename replaces a
    link at `path` itself, never what it points to."""
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)
        fd = open_no_follow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SmtuiError(f"cannot write {path}: {exc.strerror or exc}") from None


def overwrite_in_place(path: Path, data: bytes) -> bool:
    """Write `data` over an existing file no shorter than it (padded with spaces to the file's
    length), needing no new disk blocks; False when that cannot be done."""
    try:
        fd = os.open(path, os.O_WRONLY | NOFOLLOW)
    except OSError:
        return False
    try:
        size = os.fstat(fd).st_size
        if size < len(data):
            return False
        os.pwrite(fd, data.ljust(size), 0)
        os.fsync(fd)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def strict_json(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None: JSON has no NaN or Infinity, and
    `json.dumps` would otherwise write them as bare words that strict readers reject. A text
    holding a byte that is not UTF-8 (a file name, kept by Python as a lone surrogate, which
    strict readers reject too) gets that byte written as `\\xe9`."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, str):
        return readable_text(obj)
    if isinstance(obj, dict):
        return {strict_json(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def readable_text(text: str) -> str:
    """`text` as valid Unicode: each undecodable byte a lone surrogate held (os.fsdecode's
    `surrogateescape`) written as `\\xNN`; any other lone surrogate as `\\udNNN`."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") \
            if _only_escapes(text) else text.encode("utf-8", "backslashreplace").decode()


def _only_escapes(text: str) -> bool:
    """Whether every surrogate in `text` is one `surrogateescape` made (U+DC80-U+DCFF)."""
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


def dumps(obj: Any, **kw: Any) -> str:
    """Strict JSON text of `obj` (see `strict_json`)."""
    return json.dumps(strict_json(obj), allow_nan=False, **kw)


def atomic_write_json(path: Path, obj: Any) -> None:
    """`atomic_write_bytes` of pretty, strict JSON."""
    atomic_write_bytes(path, (dumps(obj, indent=2) + "\n").encode())


MAX_JSON_BYTES = 1 << 20    # config.json, status.json, settings.json: a few KB as smtui writes
MAX_LINE_BYTES = 1 << 16    # a metrics row is about 200 bytes
MAX_ROWS = 200_000          # rows of one metrics.jsonl a reader keeps (a listing stays small)


def regular_file_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a file, or None: a FIFO blocks a reader forever, a device
    (a link to /dev/zero) never ends."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror or exc}"
    return None if stat.S_ISREG(mode) else f"{path} is not a regular file"


def read_json_object(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the JSON object in `path`, None), or (None, what is wrong) for a missing file, one that
    is not a regular file or is too large, bytes that are not UTF-8 JSON, JSON nested too
    deeply or that is not an object. What it holds comes back `inert` (console.py): no string
    from a file reaches a terminal with its control characters."""
    from ..core.console import inert
    problem = regular_file_problem(path)
    if problem:
        return None, inert(problem)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_JSON_BYTES + 1)
        if len(data) > MAX_JSON_BYTES:
            return None, inert(f"{path} is larger than {MAX_JSON_BYTES // 1024} KB: not a file "
                               "smtui wrote")
        value = json.loads(data.decode("utf-8"))
    except OSError as exc:
        return None, inert(f"{path} cannot be read: {exc.strerror or exc}")
    except UnicodeDecodeError:
        return None, inert(f"{path} is not UTF-8 text")
    except RecursionError:
        return None, inert(f"{path} is nested too deeply to be JSON smtui wrote")
    except ValueError as exc:
        return None, inert(f"{path} is not valid JSON ({exc})")
    if not isinstance(value, dict):
        return None, inert(f"{path} holds a JSON {type(value).__name__}, not an object")
    return inert(value), None


def bounded_lines(fh, limit: int = MAX_LINE_BYTES):
    """(line, end offset) for each line of a binary file from its position, a line longer than
    `limit` as (None, end offset): a 1 GB line is skipped, never held in memory."""
    at = fh.tell()
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):   # the rest of the long line
                at += len(line)
                line = fh.readline(limit + 1)
            at += len(line)
            yield None, at
            continue
        at += len(line)
        yield line, at
