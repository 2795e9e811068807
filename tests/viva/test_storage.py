"""Record folders into a local folder and into S3-compatible storage (a real moto server)."""

import os
import threading
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from viva.errors import BadInput
from viva.storage import (
    LocalStore,
    S3Store,
    StoreFailed,
    make_private_folders,
    record_files,
    record_store,
    write_atomic,
)

RECORDING = bytes(range(256)) * 64  # not text: a byte changed on the way would show


def make_record(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "session.json").write_text('{"session_id": "s1", "outcome": "completed"}')
    (folder / "recording.wav").write_bytes(b"RIFF" + RECORDING)
    (folder / "report.html").write_text("<!doctype html><p>Band 7 — très bien</p>", encoding="utf-8")
    (folder / "emulator.jsonl").write_text('{"t": 1}\n{"t": 2}\n')
    return folder


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- S3, against moto's server on a free local port


@pytest.fixture(scope="module")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint, monkeypatch, tmp_path):
    """A client of the moto server, with only the standard AWS variables pointing at it."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    # No file from the machine's ~/.aws may add settings or credentials.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.session.Session().client("s3")


def objects(s3, bucket: str) -> dict[str, dict]:
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"]) for item in listed}


def test_a_record_goes_to_s3_byte_for_byte_with_content_types(s3, tmp_path):
    s3.create_bucket(Bucket="exam-records")
    record = make_record(tmp_path / "20250101-120000-ab12")
    store = record_store("s3://exam-records/viva/ielts")
    assert isinstance(store, S3Store)
    where = store.put(record, "20250101-120000-ab12")
    assert where == "s3://exam-records/viva/ielts/20250101-120000-ab12/"
    stored = objects(s3, "exam-records")
    prefix = "viva/ielts/20250101-120000-ab12/"
    assert {key: obj["Body"].read() for key, obj in stored.items()} == {
        prefix + name: data for name, data in folder_bytes(record).items()}
    types = {key.removeprefix(prefix): obj["ContentType"] for key, obj in stored.items()}
    assert types == {"session.json": "application/json", "recording.wav": "audio/wav",
                     "report.html": "text/html; charset=utf-8", "emulator.jsonl": "application/x-ndjson"}


def test_a_bucket_without_prefix_and_files_in_subfolders(s3, tmp_path):
    s3.create_bucket(Bucket="bare")
    record = make_record(tmp_path / "r")
    (record / "audio").mkdir()
    (record / "audio" / "part1.wav").write_bytes(RECORDING)
    assert record_store("s3://bare").put(record, "s2") == "s3://bare/s2/"
    stored = objects(s3, "bare")
    assert stored["s2/audio/part1.wav"]["Body"].read() == RECORDING
    assert set(stored) == {f"s2/{name}" for name in folder_bytes(record)}


async def test_put_async_uploads_from_a_worker_thread(s3, tmp_path, monkeypatch):
    s3.create_bucket(Bucket="async-bucket")
    store = record_store("s3://async-bucket/p")
    threads = []
    upload = store.put

    def put_and_note_thread(folder, session_id):
        threads.append(threading.get_ident())
        return upload(folder, session_id)

    monkeypatch.setattr(store, "put", put_and_note_thread)
    where = await store.put_async(make_record(tmp_path / "r"), "s3")
    assert where == "s3://async-bucket/p/s3/"
    assert threads and threads[0] != threading.get_ident()  # the event loop's thread never blocks on boto3
    assert s3.get_object(Bucket="async-bucket", Key="p/s3/recording.wav")["Body"].read() == b"RIFF" + RECORDING


def test_the_s3_specific_endpoint_variable_is_honoured(s3, moto_endpoint, monkeypatch, tmp_path):
    s3.create_bucket(Bucket="only-s3-endpoint")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    record_store("s3://only-s3-endpoint").put(make_record(tmp_path / "r"), "s4")
    assert "s4/session.json" in objects(s3, "only-s3-endpoint")


def test_a_missing_bucket_fails_in_one_line_naming_it(s3, tmp_path):
    with pytest.raises(StoreFailed) as failed:
        record_store("s3://no-such-bucket/x").put(make_record(tmp_path / "r"), "s5")
    message = str(failed.value)
    assert message.startswith("s3://no-such-bucket/x/s5/") and "\n" not in message
    assert "NoSuchBucket" in message or "does not exist" in message


# -- a local folder


@pytest.mark.parametrize("as_url", [False, True])
def test_a_local_folder_gets_a_copy(tmp_path, as_url):
    record = make_record(tmp_path / "sessions" / "s1")
    target = tmp_path / "kept records"
    url = target.as_uri() if as_url else str(target)
    store = record_store(url)
    assert isinstance(store, LocalStore) and store.root == target
    assert store.put(record, "s1") == str(target / "s1")
    assert folder_bytes(target / "s1") == folder_bytes(record)
    assert (record / "session.json").exists()  # copied, not moved


def test_a_record_already_in_place_stays_as_it_is(tmp_path):
    record = make_record(tmp_path / "sessions" / "s1")
    before = folder_bytes(record)
    # Copying a file onto itself would raise (shutil.SameFileError): so this passes only if skipped.
    assert record_store(str(tmp_path / "sessions")).put(record, "s1") == str(tmp_path / "sessions" / "s1")
    assert folder_bytes(record) == before


def test_a_second_put_replaces_the_copy(tmp_path):
    record = make_record(tmp_path / "r")
    store = record_store(str(tmp_path / "out"))
    store.put(record, "s1")
    (record / "session.json").write_text('{"session_id": "s1", "outcome": "failed"}')
    store.put(record, "s1")
    assert (tmp_path / "out" / "s1" / "session.json").read_text() == '{"session_id": "s1", "outcome": "failed"}'


def test_session_json_is_stored_last(tmp_path):
    # `viva report` takes a folder with session.json for a whole record: a copy or upload
    # cut short must not have it yet.
    record = make_record(tmp_path / "r")
    (record / "zz.txt").write_text("after session.json by name")
    names = [p.as_posix() for p in record_files(record)]
    assert names[-1] == "session.json" and sorted(names) == sorted(folder_bytes(record))


def test_the_default_is_the_sessions_folder():
    assert record_store(None).root == Path("sessions") and record_store("").root == Path("sessions")


def test_a_folder_that_is_not_a_record_is_bad_input(tmp_path):
    store = record_store(str(tmp_path / "out"))
    with pytest.raises(BadInput, match="no such folder"):
        store.put(tmp_path / "missing", "s1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match=r"not a session record \(no session.json in it\)"):
        store.put(tmp_path / "empty", "s1")


def test_a_session_id_cannot_climb_out_of_the_store(tmp_path):
    with pytest.raises(ValueError, match="session id"):
        record_store(str(tmp_path / "out")).put(make_record(tmp_path / "r"), "../elsewhere")
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("url, says", [
    ("ftp://host/records", "unknown kind of target ftp://"),
    ("https://bucket.example.com/records", "unknown kind of target https://"),
    ("s3://", "no bucket; expected s3://bucket or s3://bucket/prefix"),
    ("s3:///records", "no bucket"),
    ("s3:/records", "no bucket"),
    ("s3://key:secret@bucket/x", "credentials come from AWS_ACCESS_KEY_ID"),
    ("s3://bucket/x?endpoint=http://minio", "without ?query"),
    ("s3://no_such!bucket", "is not a bucket name"),
    ("s3://ab", "is not a bucket name"),
    ("file://otherhost/records", "not on otherhost"),
])
def test_a_malformed_url_is_one_clear_line(url, says):
    with pytest.raises(BadInput) as bad:
        record_store(url)
    message = str(bad.value)
    assert message.startswith(url) and says in message and "\n" not in message


# -- what a local copy may be read by


@pytest.fixture
def umask():
    """Sets the process's umask for the test (umask(0o022): the usual one)."""
    before = os.umask(0o022)
    yield os.umask
    os.umask(before)


def modes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mode & 0o777 for p in [folder, *folder.rglob("*")]}


def test_a_local_copy_is_owner_only_under_the_usual_umask(tmp_path, umask):
    # The record holds a candidate's voice; under umask 022 a plain copy is 0644 in 0755 folders.
    record = make_record(tmp_path / "r")
    (record / "audio").mkdir()
    (record / "audio" / "part1.wav").write_bytes(RECORDING)
    record_store(str(tmp_path / "records" / "ielts")).put(record, "s1")
    copied = modes(tmp_path / "records")
    assert {name: mode for name, mode in copied.items() if (tmp_path / "records" / name).is_dir()} == {
        ".": 0o700, "ielts": 0o700, "ielts/s1": 0o700, "ielts/s1/audio": 0o700}
    assert {mode for name, mode in copied.items() if (tmp_path / "records" / name).is_file()} == {0o600}


def test_a_copy_over_an_older_readable_one_is_owner_only(tmp_path, umask):
    record = make_record(tmp_path / "r")
    old = tmp_path / "records" / "s1"
    old.mkdir(parents=True)
    (old / "session.json").write_text("{}")
    os.chmod(old / "session.json", 0o644)
    record_store(str(tmp_path / "records")).put(record, "s1")
    assert (old / "session.json").stat().st_mode & 0o777 == 0o600


def test_the_umask_narrows_what_is_written_never_widened(tmp_path, umask):
    umask(0o277)  # not even the owner may write: 0400 files, 0500 folders
    make_private_folders(tmp_path / "narrow")
    write_atomic(tmp_path / "file", b"x")
    umask(0o022)
    assert (tmp_path / "narrow").stat().st_mode & 0o777 == 0o500
    assert (tmp_path / "file").stat().st_mode & 0o777 == 0o400


# -- a store that cannot take a record, found before the session


def test_a_folder_store_is_checked_before_anything_is_written(tmp_path):
    (tmp_path / "a file").write_text("x")
    for root, says in [("/dev/null", "/dev/null: not a folder"),
                       (str(tmp_path / "a file" / "records"), "is a file")]:
        with pytest.raises(BadInput, match=says) as bad:
            record_store(root).check()
        assert "\n" not in str(bad.value)
    record_store(str(tmp_path / "not yet" / "records")).check()  # made at the first put
    assert not (tmp_path / "not yet").exists()
    record_store("s3://bucket/prefix").check()  # no network: the bucket is reached with the record
