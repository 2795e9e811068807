"""Properties, over arbitrary input (hypothesis): the start body is a StartBody or exactly one
BadInput line; the webhook signature verifies only what was signed and never raises; the
outbox reader delivers, sets aside or leaves every file, and never raises or spins."""

import asyncio
import json
import tempfile
from pathlib import Path

from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loguru import logger
from pydantic import ValidationError

from tests.viva.test_destinations import fake_getaddrinfo
from viva.bot import StartBody, start_body
from viva.destinations import Destinations
from viva.errors import BadInput
from viva.storage import LocalStore, S3Store
from viva.webhook import (
    Delivery,
    DeliverySchedule,
    Outbox,
    signed_headers,
    verify_signature,
)

SECRET = b"shared-secret"
START = 1_750_000_000.0
HOOK = "https://hooks.example.com/viva"
# No example database: nothing written into the working tree.
FAST = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# -- the start body

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)
webhooks = st.sampled_from([
    HOOK, f"{HOOK}/ielts?x=1", "http://127.0.0.1:22/", "https://[::1]/", "https://0x7f000001/",
    "https://user:pw@hooks.example.com/viva", "https://metadata.google.internal/", "https://hooks.example.com/viva#f",
    "https://hooks.example.com/viva/%2e%2e/x", "https://inside.example.com/", " https://hooks.example.com/viva ",
    "https://hooks.example.com/viva\n", "", "https://", "https://hooks.example.com:99999/viva",
]) | st.text(max_size=40) | st.text(max_size=20).map(lambda tail: f"{HOOK}/{tail}")
stores = st.sampled_from([
    "s3://exam-records/viva", "s3://exam-records/viva/x", "s3://exam-records/other", "s3://exam-records/viva/../x",
    "gs://x/y", "/dev/null", "/proc/self", "~", "file:///etc", "s3://", "file://host/x", "", "{allowed}/sub",
    "{allowed}/../x", "{allowed}", "{allowed}/a\x00b",
]) | st.text(max_size=40) | st.text(max_size=20).map(lambda tail: "{allowed}/" + tail)
candidate_ids = st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True) | st.text(max_size=12) \
    | st.sampled_from(["c\n2", "c\u2028d", "c\x1bd", "", "x" * 201])
results = st.fixed_dictionaries({}, optional={"store": stores, "webhook": webhooks})
# Mostly the body's own shape with a plain candidate id, so that many reach the destination checks.
shaped = st.fixed_dictionaries({"config": st.just("ielts_tiny"),
                                "candidate_id": st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True),
                                "results": results})
loose = st.fixed_dictionaries({"config": st.just("ielts_tiny") | st.text(max_size=12), "candidate_id": candidate_ids},
                              optional={"results": results | json_like, "extra": json_like})
bodies = shaped | loose | json_like


def fill(value, allowed: Path):
    """The body with "{allowed}" made the allowed folder's path (hypothesis draws before the folder exists)."""
    if isinstance(value, str):
        return value.replace("{allowed}", str(allowed))
    if isinstance(value, dict):
        return {key: fill(item, allowed) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, allowed) for item in value]
    return value


def one_line(message: str) -> bool:
    return len(message.splitlines()) == 1


@FAST
@given(body=bodies)
def test_a_start_body_is_a_start_body_or_one_line_naming_what_is_wrong(body):
    with tempfile.TemporaryDirectory() as folder:
        allowed = Path(folder).resolve() / "records"
        allowed.mkdir()
        destinations = Destinations.from_environment(
            {"VIVA_RESULTS_STORE": str(allowed / "operator"), "VIVA_ALLOWED_WEBHOOKS": HOOK,
             "VIVA_ALLOWED_STORES": f"{allowed} s3://exam-records/viva"}, getaddrinfo=fake_getaddrinfo)
        body = fill(body, allowed)
        try:
            checked = start_body(body)
            store = destinations.store(checked.results.store)
            webhook = destinations.webhook(checked.results.webhook)
        except BadInput as e:
            message = str(e)
            assert one_line(message) and message.startswith("start body: "), message
            return
        assert isinstance(checked, StartBody) and checked.candidate_id.isprintable()
        assert webhook is None or webhook == HOOK or webhook.startswith((f"{HOOK}/", f"{HOOK}?"))
        if isinstance(store, LocalStore):
            assert store.root == allowed or allowed in store.root.parents
        else:
            assert isinstance(store, S3Store) and store.bucket == "exam-records"
            assert store.prefix == "viva" or store.prefix.startswith("viva/")


# -- the signature

keys = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}", fullmatch=True)
stamps = st.integers(min_value=0, max_value=10**10)


@FAST
@given(body=st.binary(max_size=200), key=keys, stamp=stamps, secret=st.binary(min_size=1, max_size=32),
       other_body=st.binary(max_size=200), other_key=keys, other_stamp=stamps)
def test_a_signature_verifies_what_was_signed_and_nothing_else(body, key, stamp, secret, other_body, other_key,
                                                               other_stamp):
    headers = signed_headers(body, secret, key, stamp)
    assert verify_signature(body, headers, secret, now=stamp)
    if other_body != body:
        assert not verify_signature(other_body, headers, secret, now=stamp)
    if other_key != key:
        assert not verify_signature(body, dict(headers, **{"Idempotency-Key": other_key}), secret, now=stamp)
    if other_stamp != stamp:
        assert not verify_signature(body, dict(headers, **{"X-Viva-Timestamp": str(other_stamp)}), secret,
                                    now=other_stamp)
    if (other_key, other_body) != (key, body):  # bytes moved between key and body, or both changed
        assert not verify_signature(other_body, dict(headers, **{"Idempotency-Key": other_key}), secret, now=stamp)


header_values = st.text(max_size=30) | st.integers() | st.none() | st.binary(max_size=10) | st.floats() \
    | st.sampled_from(["1750000000", "9" * 5000, "sha256=" + "0" * 64, "１７５", "-1", " 1750000000"])
header_names = st.sampled_from(["X-Viva-Timestamp", "x-viva-signature", "Idempotency-Key", "X-VIVA-TIMESTAMP"]) \
    | st.text(max_size=10) | st.integers() | st.binary(max_size=5)


@FAST
@given(headers=st.dictionaries(header_names, header_values, max_size=5), body=st.binary(max_size=50),
       now=st.floats() | st.integers(min_value=-(10**30), max_value=10**30) | st.none())
def test_verify_says_true_or_false_for_any_headers_never_raises(headers, body, now):
    assert verify_signature(body, headers, SECRET, now=now) in (True, False)


# -- the outbox reader

numbers = st.floats() | st.integers(min_value=-(10**25), max_value=10**25) | st.sampled_from([START, START + 1]) \
    | st.text(max_size=5) | st.none() | st.booleans()
session_ids = keys | st.text(max_size=12) | st.sampled_from(["s1\r\nX-Forged: 1", "../x", "", "a" * 200])
entries = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, 1, 2, "1", None]), "session_id": session_ids,
     "body": st.text(max_size=30) | st.just('{"band":7}'), "created_at": numbers, "next_attempt_at": numbers},
    optional={"attempts": st.integers(min_value=-(10**30), max_value=10**30) | st.floats() | st.text(max_size=3),
              "last_error": st.text(max_size=10) | st.none(), "gave_up_at": numbers}).map(
    lambda entry: json.dumps(entry).encode("utf-8", "surrogatepass"))
well_formed = st.builds(
    lambda session_id, created, due: json.dumps({"version": 1, "session_id": session_id, "body": '{"band":7}',
                                                 "created_at": created, "next_attempt_at": due}).encode(),
    keys, st.floats(START - 10**6, START), st.floats(START - 100, START + 10**5))
contents = st.one_of(entries, well_formed, st.binary(max_size=120), st.none())  # None: a folder of that name
names = st.from_regex(r"[A-Za-z0-9_-]{1,10}", fullmatch=True) | st.sampled_from(["dead", "x.y", "é"])
answers = st.lists(st.sampled_from([200, 200, 503, 400, 429]), max_size=6)


class Receiver:
    def __init__(self, script: list[int]):
        self.script = list(script)
        self.received: list[tuple[dict, bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((dict(request.headers), body))
        return web.Response(status=self.script.pop(0) if self.script else 200)


async def run_outbox(folder: Path, script: list[int]):
    receiver = Receiver(script)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    clock = [START]
    sleeps = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        assert len(sleeps) < 100, f"the loop keeps sleeping: {sleeps[-3:]}"
        clock[0] += seconds

    try:
        outbox = Outbox(folder, f"http://127.0.0.1:{runner.addresses[0][1]}/hook", SECRET, clock=lambda: clock[0],
                        schedule=DeliverySchedule(first_wait_s=5, jitter=0, max_attempts=3, clock=lambda: clock[0]))
        await outbox.run_until_empty(until=START + 3600, sleep=sleep)
        return receiver
    finally:
        await runner.cleanup()


@settings(FAST, max_examples=40)
@given(files=st.dictionaries(names, contents, max_size=4), script=answers)
def test_the_outbox_delivers_sets_aside_or_leaves_every_file_and_never_raises_or_spins(files, script):
    warnings: list[str] = []
    handler = logger.add(lambda message: warnings.append(message.record["message"]), level="WARNING")
    try:
        with tempfile.TemporaryDirectory() as temp:
            folder = Path(temp) / "outbox"
            (folder / "dead").mkdir(parents=True)
            for name, content in files.items():
                if content is None:
                    (folder / f"{name}.json").mkdir()
                else:
                    (folder / f"{name}.json").write_bytes(content)
            receiver = asyncio.run(run_outbox(folder, script))  # returns: no exception, no spin

            for headers, body in receiver.received:
                assert verify_signature(body, headers, SECRET, now=int(headers["X-Viva-Timestamp"]))
            for name, content in files.items():
                file = f"{name}.json"
                delivery = None if content is None else as_delivery(content)
                if delivery is None:  # not a delivery: set aside, and said so in one line
                    assert (folder / "dead" / file).exists() and not (folder / file).exists()
                    assert any(file in w and "not a delivery" in w for w in warnings), (file, warnings)
                elif (folder / file).exists():  # still waiting: only if due after the deadline
                    assert as_delivery((folder / file).read_bytes()).next_attempt_at > START + 3600
                elif (folder / "dead" / file).exists():  # given up
                    assert as_delivery((folder / "dead" / file).read_bytes()).gave_up_at is not None
                else:  # delivered
                    assert (delivery.session_id, delivery.body.encode()) in {
                        (headers["Idempotency-Key"], body) for headers, body in receiver.received}
            assert all(one_line(w) for w in warnings)
    finally:
        logger.remove(handler)


def as_delivery(content: bytes) -> Delivery | None:
    try:
        return Delivery.model_validate_json(content)
    except ValidationError:
        return None
