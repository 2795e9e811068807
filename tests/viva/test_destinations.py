"""Where a start body may send the result and the record: only inside what the operator allows
(viva.destinations), checked at start and, for the webhook's address, again at connect time."""

import ipaddress
import json
import socket

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver

from viva.destinations import Destinations, is_public
from viva.errors import BadInput
from viva.storage import LocalStore, S3Store
from viva.webhook import Delivered, GiveUp, Outbox, verify_signature

SECRET = b"shared-secret"
HOOK = "https://hooks.example.com/viva"
# What the (fake) DNS answers: the tests never ask a real one.
DNS = {
    "hooks.example.com": ["93.184.216.34"],
    "inside.example.com": ["10.0.0.5"],
    "mixed.example.com": ["93.184.216.34", "192.168.1.10"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "metadata.google.internal": ["169.254.169.254"],
    "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
}


def fake_getaddrinfo(host, port, *args, **kwargs):
    """socket.getaddrinfo over DNS: names from DNS, numeric forms as the C library reads them
    (AI_NUMERICHOST: no lookup), anything else unknown."""
    if host in DNS:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in DNS[host]]
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)


def destinations(tmp_path=None, **environ) -> Destinations:
    environ = {name: value for name, value in environ.items() if value is not None}
    if tmp_path is not None:
        environ.setdefault("VIVA_RESULTS_STORE", str(tmp_path / "operator-records"))
    return Destinations.from_environment(environ, getaddrinfo=fake_getaddrinfo)


def refusal(call, *args) -> str:
    with pytest.raises(BadInput) as refused:
        call(*args)
    message = str(refused.value)
    assert len(message.splitlines()) == 1, message
    return message


# -- with no allow-list, the body names no destination at all


def test_without_an_allow_list_a_body_may_name_no_webhook_and_no_store(tmp_path):
    d = destinations(tmp_path, VIVA_WEBHOOK_URL="https://team.example.com/results")
    assert d.webhook(None) == d.webhook("") == "https://team.example.com/results"
    assert refusal(d.webhook, HOOK) == (
        f"start body: results.webhook: {HOOK!r}: this deployment takes no webhook from the start body "
        "(VIVA_ALLOWED_WEBHOOKS is not set); leave it out to use the deployment's own")
    assert isinstance(d.store(None), LocalStore) and d.store(None).root == tmp_path / "operator-records"
    message = refusal(d.store, str(tmp_path / "elsewhere"))
    assert message.startswith("start body: results.store: ") and "VIVA_ALLOWED_STORES is not set" in message


def test_the_operators_own_destinations_may_be_named_in_the_body(tmp_path):
    d = destinations(tmp_path, VIVA_WEBHOOK_URL="http://10.1.2.3:8080/results",  # on-prem, plain http: trusted
                     VIVA_RESULTS_STORE="s3://exam-records/viva")
    assert d.webhook(" http://10.1.2.3:8080/results ") == "http://10.1.2.3:8080/results"
    assert d.connector("http://10.1.2.3:8080/results") is None  # aiohttp's own: the operator's choice
    store = d.store("s3://exam-records/viva/")
    assert isinstance(store, S3Store) and (store.bucket, store.prefix) == ("exam-records", "viva")
    assert d.webhook(None) == "http://10.1.2.3:8080/results"


# -- webhooks


@pytest.mark.parametrize("url, says", [
    ("http://169.254.169.254/latest/meta-data/", "expected an https:// URL"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is not a public address"),
    ("http://127.0.0.1:22/", "expected an https:// URL"),
    ("https://127.0.0.1:22/", "127.0.0.1 is not a public address"),
    ("https://[::1]/", "::1 is not a public address"),
    ("https://[::ffff:127.0.0.1]/", "is not a public address"),
    ("https://[fe80::1]/", "fe80::1 is not a public address"),
    ("https://0x7f000001/", "an address in an odd numeric form"),
    ("https://2130706433/", "an address in an odd numeric form"),
    ("https://127.1/", "an address in an odd numeric form"),
    ("https://metadata.google.internal/computeMetadata/v1/", "not under any URL in VIVA_ALLOWED_WEBHOOKS"),
    ("https://user:pw@hooks.example.com/viva", "a user name or password in the URL is not allowed"),
    ("https://hooks.example.com@evil.example.com/viva", "a user name or password in the URL is not allowed"),
    ("https://hooks.example.com/vivax", "not under any URL"),
    ("https://hooks.example.com:8443/viva", "not under any URL"),
    ("https://hooks.example.com/viva/%2e%2e/admin", "not under any URL"),  # sent as /admin
    ("https://hooks.example.com/viva/x%2F..%2F..%2Fadmin", "'.' or '..' in the path is not allowed"),
    ("https://hooks.example.com/viva#part", "a #fragment is not allowed"),
    ("https://hooks.example.com/viva/a b", "without spaces or control characters"),
    ("https://hooks.example.com/viva\r\nX-Forged: 1", "without spaces or control characters"),
    ("ftp://hooks.example.com/viva", "expected an https:// URL"),
    ("hooks.example.com/viva", "expected an https:// URL"),
])
def test_a_webhook_outside_the_allow_list_or_not_public_is_refused(tmp_path, url, says):
    d = destinations(tmp_path, VIVA_ALLOWED_WEBHOOKS=f"{HOOK}, https://169.254.169.254/ https://127.0.0.1:22/ "
                     "https://[::1]/ https://[::ffff:127.0.0.1]/ https://[fe80::1]/ https://0x7f000001/")
    message = refusal(d.webhook, url)
    assert message.startswith(f"start body: results.webhook: {url!r}: ") and says in message, message


@pytest.mark.parametrize("host, says", [
    ("inside.example.com", "inside.example.com resolves to 10.0.0.5, not a public address"),
    ("mixed.example.com", "resolves to 192.168.1.10, not a public address"),
    ("mapped.example.com", "mapped.example.com resolves to ::ffff:"),  # how Python spells it varies
    ("metadata.google.internal", "resolves to 169.254.169.254, not a public address"),
    ("nowhere.example.com", "nowhere.example.com does not resolve"),
])
def test_an_allowed_host_that_resolves_inward_is_refused(tmp_path, host, says):
    # The operator's allow-list names the host, but DNS decides where it leads: checked too.
    d = destinations(tmp_path, VIVA_ALLOWED_WEBHOOKS=f"https://{host}/")
    assert says in refusal(d.webhook, f"https://{host}/results")


def test_a_webhook_inside_the_allow_list_on_public_addresses_is_taken(tmp_path):
    d = destinations(tmp_path, VIVA_ALLOWED_WEBHOOKS=f"{HOOK} https://v6.example.com")
    assert d.webhook(f"{HOOK}/ielts?exam=7") == f"{HOOK}/ielts?exam=7"
    assert d.webhook("  https://HOOKS.example.com:443/viva/  ") == f"{HOOK}/"  # one spelling
    assert d.webhook("https://v6.example.com/anything") == "https://v6.example.com/anything"
    assert d.connector(HOOK) is not None  # a body's webhook: the guarded connector


def test_private_hosts_are_an_explicit_setting_and_still_need_the_allow_list(tmp_path):
    allowed = "http://127.0.0.1:8080/hook"
    with pytest.raises(BadInput, match=r"VIVA_ALLOWED_WEBHOOKS: 'http://127.0.0.1:8080/hook': expected an https://"):
        destinations(tmp_path, VIVA_ALLOWED_WEBHOOKS=allowed)
    d = destinations(tmp_path, VIVA_ALLOWED_WEBHOOKS=allowed, VIVA_WEBHOOK_PRIVATE_HOSTS="127.0.0.1")
    assert d.webhook(allowed) == allowed
    assert "not under any URL" in refusal(d.webhook, "http://127.0.0.1:22/")


@pytest.mark.parametrize("variable, value, says", [
    ("VIVA_ALLOWED_WEBHOOKS", "https://user@hooks.example.com/", "without user, ?query or #fragment"),
    ("VIVA_ALLOWED_WEBHOOKS", "hooks.example.com", "expected an https:// URL"),
    ("VIVA_ALLOWED_STORES", "gs://bucket/x", "unknown kind of target gs://"),
    ("VIVA_WEBHOOK_URL", "ftp://team.example.com/", "expected an https:// URL"),
    ("VIVA_RESULTS_STORE", "/dev/null", "/dev/null: not a folder"),
    ("VIVA_RESULTS_STORE", "gs://bucket/x", "unknown kind of target gs://"),
    ("VIVA_WEBHOOK_PRIVATE_HOSTS", "http://127.0.0.1:8080/", "expected host names or addresses"),
])
def test_a_malformed_setting_is_one_line_naming_it(variable, value, says):
    message = refusal(Destinations.from_environment, {variable: value})
    assert message.startswith(f"{variable}: ") and says in message, message


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("10.0.0.5", False), ("172.16.0.1", False), ("192.168.0.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("240.0.0.1", False),
    ("255.255.255.255", False), ("224.0.0.1", False), ("::1", False), ("::", False), ("fe80::1", False),
    ("fc00::1", False), ("ff02::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:93.184.216.34", True),  # IPv4-mapped
    ("::7f00:1", False),  # IPv4-compatible ::127.0.0.1
    ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
    ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
])
def test_which_addresses_are_public(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


# -- at connect time: the address connected to is the one checked


class SwappedDNS(AbstractResolver):
    """A resolver whose answer changed since the start check: every name now leads to 127.0.0.1."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self):
        pass


@pytest.fixture
async def receiver():
    requests = []

    async def handle(request):
        body = await request.read()
        requests.append((dict(request.headers), body))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1], requests
    await runner.cleanup()


async def test_a_name_that_resolves_inward_at_connect_time_is_never_connected_to(tmp_path, receiver):
    port, requests = receiver
    url = f"http://hooks.example.com:{port}/hook"
    # Plain http only so the local receiver can answer; the start check would refuse http here,
    # this is the connector alone, as a waiting delivery's is.
    d = Destinations.from_environment({"VIVA_RESULTS_STORE": str(tmp_path)}, getaddrinfo=fake_getaddrinfo,
                                      inner_resolver=SwappedDNS)
    outbox = Outbox(tmp_path / "outbox", url, SECRET, connector=d.connector(url))
    outbox.enqueue("s1", {"band": 7})
    [made] = await outbox.deliver_pending()
    assert requests == []  # nothing reached the loopback
    assert isinstance(made.action, GiveUp) and made.answer.refused is not None
    assert "hooks.example.com resolves to 127.0.0.1, not a public address" in made.action.reason
    [dead] = outbox.dead()
    assert "destination refused" in dead.last_error and outbox.pending() == []


async def test_the_connector_connects_through_the_checked_answer(tmp_path, receiver):
    # The same name, allowed as a private host: it is delivered to where the resolver said,
    # so the connector does connect through it (the refusal above is not a mere network error).
    port, requests = receiver
    url = f"http://hooks.example.com:{port}/hook"
    d = Destinations.from_environment({"VIVA_RESULTS_STORE": str(tmp_path),
                                       "VIVA_WEBHOOK_PRIVATE_HOSTS": "hooks.example.com"},
                                      getaddrinfo=fake_getaddrinfo, inner_resolver=SwappedDNS)
    outbox = Outbox(tmp_path / "outbox", url, SECRET, connector=d.connector(url))
    outbox.enqueue("s1", {"band": 7})
    [made] = await outbox.deliver_pending()
    assert isinstance(made.action, Delivered)
    [(headers, body)] = requests
    assert json.loads(body) == {"band": 7} and verify_signature(body, headers, SECRET)


# -- stores


@pytest.fixture
def allowed_folder(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    return folder


def test_a_store_inside_an_allowed_one_is_taken_by_its_real_path(tmp_path, allowed_folder):
    d = destinations(tmp_path, VIVA_ALLOWED_STORES=f"{allowed_folder} s3://exam-records/viva,s3://whole-bucket")
    store = d.store(str(allowed_folder / "ielts"))
    assert isinstance(store, LocalStore) and store.root == allowed_folder / "ielts"
    assert d.store((allowed_folder / "x" / ".." / "y").as_uri()).root == allowed_folder / "y"
    assert d.store(str(allowed_folder)).root == allowed_folder
    s3 = d.store("s3://exam-records/viva/ielts")
    assert (s3.bucket, s3.prefix) == ("exam-records", "viva/ielts")
    assert d.store("s3://whole-bucket/any/prefix").prefix == "any/prefix"
    assert not (allowed_folder / "ielts").exists()  # checked, not made


@pytest.mark.parametrize("asked, says", [
    ("file:///etc", "not under any store in VIVA_ALLOWED_STORES"),
    ("/proc/self", "not under any store"),
    ("~", "not under any store"),
    ("{tmp}/records/../elsewhere", "not under any store"),
    ("{tmp}/records-x", "not under any store"),
    ("{tmp}/records/link/inside", "not under any store"),  # a symlink out of the allowed folder
    ("{tmp}/records/file/inside", "is a file"),
    ("s3://other-bucket/viva", "not under any store"),
    ("s3://exam-records/vivax", "not under any store"),
    ("s3://exam-records", "not under any store"),
    ("s3://exam-records/viva/../other", "'.' or '..' in the prefix is not allowed"),
    ("gs://exam-records/viva", "unknown kind of target gs://"),
    ("s3://exam-records/viva\n", "without control characters"),
])
def test_a_store_outside_the_allow_list_or_unusable_is_refused(tmp_path, allowed_folder, asked, says):
    (allowed_folder / "link").symlink_to("/etc")
    (allowed_folder / "file").write_text("x")
    d = destinations(tmp_path, VIVA_ALLOWED_STORES=f"{allowed_folder} s3://exam-records/viva")
    message = refusal(d.store, asked.format(tmp=tmp_path))
    assert message.startswith("start body: results.store: ") and says in message, message


def test_an_allowed_folder_with_a_space_is_written_as_a_file_url(tmp_path):
    folder = tmp_path / "kept records"
    folder.mkdir()
    d = destinations(tmp_path, VIVA_ALLOWED_STORES=folder.as_uri())
    assert d.store(str(folder / "s")).root == folder / "s"
