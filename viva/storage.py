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
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import shutil
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

    def put(self, folder: Path, session_id: str) -> str:
        folder = Path(folder)
        target = self.root / check_session_id(session_id)
        files = record_files(folder)
        if target.resolve() == folder.resolve():
            return str(target)  # written there in the first place (the usual --out case)
        try:
            for name in files:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, target / name)
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


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
