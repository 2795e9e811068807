"""Where a finished session's record folder goes: a local folder, or S3-compatible object storage.

A session's record is a folder holding session.json, recording.wav, report.html and
perhaps more (emulator.jsonl). On Pipecat Cloud an instance's disk is gone when the
session ends, so a team keeps its records by sending them to object storage:

    store = record_store("s3://exam-records/viva")   # or "records", "file:///srv/records", None
    where = await store.put_async(record_dir, session_id)   # "s3://exam-records/viva/<session id>/"

Targets, by URL:
    None or ""                the local folder `sessions` (the CLI's --out default)
    a path, file:///path      a local folder: the record is copied to <folder>/<session id>/
    s3://bucket[/prefix]      objects <prefix>/<session id>/<file name>, one per file

S3 is reached with boto3's own configuration and nothing else: the endpoint of an
S3-compatible store (MinIO, R2, Ceph...) from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL,
credentials and region from the standard AWS_* variables (or a profile, or an IAM role).

A malformed URL raises viva.errors.BadInput with one line; a failed upload raises
StoreFailed with one line. session.json is written last everywhere: `viva report` takes a
folder with session.json for a whole record, so a copy cut short never passes for one.
check() says before a session runs whether a store can take its record at all (a folder
that is a file, or that cannot be written in), so a bad store is refused at start, not
found out after the exam.

A record holds a candidate's voice: a local copy is owner-only (files 0600, folders 0700,
narrowed further by the process's umask, never widened).
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from loguru import logger

from viva.errors import BadInput

DEFAULT_FOLDER = Path("sessions")
RECORD_FILE = "session.json"

CONTENT_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".wav": "audio/wav",
    ".html": "text/html; charset=utf-8",
}

# Session ids become a folder name and an object key: nothing that could climb out of them.
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# S3's bucket naming rules (3 to 63 lowercase letters, digits, dots and hyphens); the
# legacy upper case and underscores some S3-compatible stores still accept are let through.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")
# "scheme:/..." is a URL; anything else ("records", "./a:b") is a path. Two letters at
# least, so a Windows drive ("C:/records") stays a path.
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):/")
_S3_SHAPE = "expected s3://bucket or s3://bucket/prefix"


class StoreFailed(Exception):
    """A record could not be stored (no such bucket, access denied, no network...); one line."""


class RecordStore(Protocol):
    def check(self) -> None:
        """BadInput (one line) if the store cannot take a record at all; nothing is written."""
        ...

    def put(self, folder: Path, session_id: str) -> str:
        """Stores the record folder under session_id; returns where it went. Blocking."""
        ...

    async def put_async(self, folder: Path, session_id: str) -> str:
        """put() in a worker thread, so the event loop (and other sessions) keep running."""
        ...


def check_session_id(session_id: str) -> str:
    """session_id if it is safe as a file name and an object key; ValueError otherwise."""
    if not _SESSION_ID.fullmatch(session_id):
        raise ValueError(f"session id {session_id!r}: expected letters, digits, '.', '_' or '-' (up to 128)")
    return session_id


def make_private_folders(folder: Path) -> None:
    """folder and its missing parents, each created 0700 (less if the umask says so).

    Path.mkdir(parents=True) gives the parents the default mode, 0777 less the umask:
    readable by everyone under the usual 022.
    """
    folder = Path(folder)
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            each.mkdir(mode=0o700)


def write_atomic(path: Path, data: bytes) -> None:
    """The whole file or the old one, even after a kill -9 or a power cut: temp file, fsync,
    os.replace. The file is 0600 less the umask (mkstemp's mode goes through the umask)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    # The rename (or unlink) itself is in the folder's entry, which needs its own fsync to
    # survive a power cut; some filesystems cannot open a folder for it, and that is fine.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def record_files(folder: Path) -> list[Path]:
    """The record's files, relative to folder, session.json last; BadInput if it is not a record."""
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such folder")
    if not (folder / RECORD_FILE).is_file():
        raise BadInput(f"{folder}: not a session record (no {RECORD_FILE} in it)")
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    return sorted(files, key=lambda p: p == Path(RECORD_FILE))  # stable: only moves session.json last


class LocalStore:
    """Records in a local folder, one subfolder per session."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def check(self) -> None:
        """BadInput unless root is a folder this process can write in, or can be made in one."""
        try:
            existing = self.root
            while not existing.exists() and existing.parent != existing:
                existing = existing.parent
            if not existing.is_dir():
                raise BadInput(f"{self.root}: not a folder ({existing} is a file)" if existing != self.root
                               else f"{self.root}: not a folder")
            if not os.access(existing, os.W_OK | os.X_OK):
                raise BadInput(f"{self.root}: cannot write in {existing}")
        except OSError as e:
            raise BadInput(f"{self.root}: not a usable folder: {e.strerror or e}") from None

    def put(self, folder: Path, session_id: str) -> str:
        folder = Path(folder)
        target = self.root / check_session_id(session_id)
        files = record_files(folder)
        if target.resolve() == folder.resolve():
            return str(target)  # written there in the first place (the usual --out case)
        try:
            for name in files:
                make_private_folders((target / name).parent)
                _copy_private(folder / name, target / name)
        except OSError as e:
            raise StoreFailed(f"{target}: cannot write: {e.strerror or e}") from None
        logger.info(f"record {session_id} copied to {target}")
        return str(target)

    async def put_async(self, folder: Path, session_id: str) -> str:
        return await asyncio.to_thread(self.put, folder, session_id)


class S3Store:
    """Records as objects in an S3 bucket: <prefix>/<session id>/<file>."""

    def __init__(self, bucket: str, prefix: str = ""):
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def __repr__(self) -> str:
        return f"S3Store({self.url()!r})"

    def check(self) -> None:
        """Nothing to check without the network: the URL's shape was checked when it was read,
        and the bucket is reached only with the record (a failure then is StoreFailed)."""

    def key_prefix(self, session_id: str | None = None) -> str:
        """Where the objects' keys start: "prefix/session_id/" (either part left out when empty)."""
        return "".join(f"{part}/" for part in (self.prefix, session_id) if part)

    def url(self, session_id: str | None = None) -> str:
        return f"s3://{self.bucket}/{self.key_prefix(session_id)}"

    def put(self, folder: Path, session_id: str) -> str:
        # Imported here: boto3 takes a while to import and only S3 targets need it.
        import boto3
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        folder = Path(folder)
        check_session_id(session_id)
        files = record_files(folder)
        destination, key_prefix = self.url(session_id), self.key_prefix(session_id)
        # A session of its own: boto3's default session is not safe to share between the
        # threads put_async runs in.
        client = boto3.session.Session().client("s3")
        for name in files:
            try:
                client.upload_file(str(folder / name), self.bucket, key_prefix + name.as_posix(),
                                   ExtraArgs={"ContentType": content_type(name)})
            except (BotoCoreError, ClientError, S3UploadFailedError) as e:
                raise StoreFailed(f"{destination}{name.as_posix()}: upload failed: {_one_line(e)}") from None
            except OSError as e:
                raise StoreFailed(f"{folder / name}: cannot read: {e.strerror or e}") from None
        logger.info(f"record {session_id} uploaded to {destination} ({len(files)} files)")
        return destination

    async def put_async(self, folder: Path, session_id: str) -> str:
        return await asyncio.to_thread(self.put, folder, session_id)


def record_store(url: str | None) -> RecordStore:
    """The store a URL names (see the module docstring); BadInput, one line, if it is malformed."""
    if url is None or not url.strip():
        return LocalStore(DEFAULT_FOLDER)
    url = url.strip()
    match = _URL.match(url)
    if match is None:
        return LocalStore(Path(url).expanduser())
    scheme = match.group(1).lower()
    parts = urlsplit(url)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise BadInput(f"{url}: a file URL names a folder on this machine (file:///path), not on {parts.netloc}")
        if parts.query or parts.fragment or not parts.path:
            raise BadInput(f"{url}: expected file:///path/to/folder")
        return LocalStore(Path(unquote(parts.path)))
    if scheme == "s3":
        if not parts.netloc:
            raise BadInput(f"{url}: no bucket; {_S3_SHAPE}")
        if "@" in parts.netloc or ":" in parts.netloc:
            raise BadInput(f"{url}: {_S3_SHAPE}; credentials come from AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY, the endpoint from AWS_ENDPOINT_URL")
        if parts.query or parts.fragment:
            raise BadInput(f"{url}: {_S3_SHAPE}, without ?query or #fragment; settings come from the AWS_* "
                           "environment variables")
        if not _BUCKET.fullmatch(parts.netloc):
            raise BadInput(f"{url}: {parts.netloc!r} is not a bucket name (3 to 63 letters, digits, '.' or '-')")
        return S3Store(parts.netloc, unquote(parts.path))
    raise BadInput(f"{url}: unknown kind of target {scheme}://; expected a folder, file:///folder or "
                   "s3://bucket/prefix")


def _copy_private(source: Path, target: Path) -> None:
    # A temp file (mkstemp: 0600 less the umask) renamed over the target: a copy replacing
    # an older one never keeps the older one's wider mode, and is never seen half written.
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
            shutil.copyfileobj(data, out)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
