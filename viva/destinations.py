"""Where a session's result and record may go: the operator decides; a start body only
chooses among what the operator allows.

The start endpoint is called with Pipecat Cloud's *public* key, so whoever holds that
key writes the start body. Left to choose freely, a body could send the signed result to
any host (a cloud metadata service, a port on the instance's loopback, the team's
internal network) and the record anywhere the deployment can write (any folder, any
bucket its credentials reach). So:

    VIVA_WEBHOOK_URL            the operator's webhook: used when the body names none; trusted as it is.
    VIVA_RESULTS_STORE          the operator's store: used when the body names none; trusted as it
                                is, but checked at start to be usable (a folder, or s3://bucket/prefix).
    VIVA_ALLOWED_WEBHOOKS       the webhooks a body may name: https:// URLs, separated by spaces or
                                commas; a body's URL must have the same scheme, host and port as
                                one of them, and its path the same or below it ("https://h/viva"
                                allows https://h/viva and https://h/viva/ielts, not https://h/vivax).
    VIVA_ALLOWED_STORES         the stores a body may name: folders (a path or file:///path) and
                                s3://bucket[/prefix], separated by spaces or commas (a path with a
                                space or a comma: as a file:// URL, %20 or %2C); a body's store must
                                be the same or below one of them.
    VIVA_WEBHOOK_PRIVATE_HOSTS  hosts, as written in the URLs, that may resolve to non-public
                                addresses and be reached over plain http://: for tests and on-premises
                                receivers on a private network only; never set by default.

Unset (or empty) VIVA_ALLOWED_WEBHOOKS / VIVA_ALLOWED_STORES: a body that names a webhook /
store is refused; only the operator's own is used. A body that names exactly the operator's
own is accepted.

A webhook a body names must also be https:// (http:// only to a private host above), have
no user:password@, no #fragment, no "." or ".." path segments, no odd numeric host
(0x7f000001, 2130706433, 127.1), and its host must resolve to public addresses only:
not loopback, private, link-local, shared, reserved, multicast, nor one of those inside
an IPv6 address (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64). That is checked at
start, and again by the connector of every delivery (PublicOnlyResolver), so a DNS answer
changed since cannot turn the POST inward: the address connected to is the one checked.
A waiting delivery that an earlier start queued goes out only if its URL is still allowed.

A refusal is BadInput, one line naming the field ("start body: results.webhook: ...") or
the setting ("VIVA_ALLOWED_STORES: ..."), before anything of the exam runs.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from viva.errors import BadInput
from viva.storage import DEFAULT_FOLDER, LocalStore, RecordStore, S3Store, record_store
from viva.webhook import DestinationRefused

WEBHOOK_URL = "VIVA_WEBHOOK_URL"
RESULTS_STORE = "VIVA_RESULTS_STORE"
ALLOWED_WEBHOOKS = "VIVA_ALLOWED_WEBHOOKS"
ALLOWED_STORES = "VIVA_ALLOWED_STORES"
PRIVATE_HOSTS = "VIVA_WEBHOOK_PRIVATE_HOSTS"

WEBHOOK_FIELD = "start body: results.webhook"
STORE_FIELD = "start body: results.store"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
GetAddrInfo = Callable[..., list]

_LIST_SEPARATORS = re.compile(r"[\s,]+")
# A label of an address written the way inet_aton reads it (decimal, 0x hex, 0 octal).
_NUMERIC_LABEL = re.compile(r"(0[xX][0-9a-fA-F]*|[0-9]+)")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class NotPublicAddress(DestinationRefused):
    """A host resolved to an address that is not public, and is not one the operator allows."""


def is_public(address: Address) -> bool:
    """Whether address is one on the public internet: not loopback, private, link-local, shared
    (100.64/10), reserved, unspecified or multicast, nor an IPv6 address carrying such an IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False  # a zone only means something on a link
        if any(not is_public(inner) for inner in _embedded_ipv4(address)):
            return False
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    # Each of these reaches (or is translated to) the IPv4 address inside it.
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo is not None:
        found += list(address.teredo)
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def webhook_key(url: str) -> str:
    """One spelling per destination (surrounding whitespace, host case, a default port: gone),
    as aiohttp sends to it: the outbox folder's name is made from this."""
    text = url.strip()
    try:
        return str(URL(text))
    except (ValueError, TypeError, UnicodeError):
        return text


def _host_name(host: str | None) -> str:
    return (host or "").strip().strip("[]").rstrip(".").lower()


def _parse_url(text: str) -> URL:
    """URL(text) or ValueError with why."""
    if not text.isprintable() or any(c.isspace() for c in text):
        raise ValueError("expected a URL without spaces or control characters")
    try:
        url = URL(text)
    except (ValueError, TypeError, UnicodeError) as e:
        raise ValueError(f"not a URL ({' '.join(str(e).split())})") from None
    if not url.absolute or url.scheme not in ("http", "https") or not url.raw_host:
        raise ValueError("expected an https:// URL")
    return url


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver that refuses a host resolving to any non-public address, so the
    address a delivery connects to is one checked here, whatever DNS answered at start.

    Args:
        private_hosts: host names allowed to resolve to non-public addresses.
        inner: the resolver asked (aiohttp's ThreadedResolver, getaddrinfo, by default).
    """

    def __init__(self, private_hosts: frozenset[str] = frozenset(), inner: AbstractResolver | None = None):
        self._private_hosts = private_hosts
        self._inner = inner

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = ThreadedResolver()
        found = await self._inner.resolve(host, port, family)
        if _host_name(host) in self._private_hosts:
            return found
        for item in found:
            try:
                address = ipaddress.ip_address(item["host"])
            except ValueError:
                raise NotPublicAddress(f"{host} resolves to {item['host']!r}, not an address") from None
            if not is_public(address):
                # Every address or none: a mix would leave the choice to the connector.
                raise NotPublicAddress(f"{host} resolves to {address}, not a public address")
        return found

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


class Destinations:
    """What the operator allows (from the environment), and the start body's choices checked
    against it. Build it with from_environment()."""

    def __init__(self, *, default_webhook: str | None, default_store: RecordStore,
                 allowed_webhooks: list[URL], allowed_stores: list[RecordStore],
                 private_hosts: frozenset[str], getaddrinfo: GetAddrInfo = socket.getaddrinfo,
                 inner_resolver: Callable[[], AbstractResolver] | None = None):
        self.default_webhook = default_webhook
        self.default_store = default_store
        self.allowed_webhooks = allowed_webhooks
        self.allowed_stores = allowed_stores
        self.private_hosts = private_hosts
        self._getaddrinfo = getaddrinfo
        self._inner_resolver = inner_resolver

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, *,
                         getaddrinfo: GetAddrInfo = socket.getaddrinfo,
                         inner_resolver: Callable[[], AbstractResolver] | None = None) -> Destinations:
        """The operator's settings (see the module docstring); BadInput naming the variable if one
        is malformed. getaddrinfo (the start check) and inner_resolver (what the connector's
        PublicOnlyResolver asks): injected by tests, which have no DNS."""
        env = os.environ if environ is None else environ
        private_hosts = frozenset(_host_name(h) for h in _entries(env.get(PRIVATE_HOSTS, "")))
        for host in private_hosts:
            if "/" in host or "@" in host or not host.isprintable():
                raise BadInput(f"{PRIVATE_HOSTS}: {host!r}: expected host names or addresses (127.0.0.1, "
                               "hooks.internal), not URLs")

        default_webhook = env.get(WEBHOOK_URL, "").strip() or None
        if default_webhook is not None:
            try:
                _parse_url(default_webhook)
            except ValueError as e:
                raise BadInput(f"{WEBHOOK_URL}: {default_webhook!r}: {e}") from None
            default_webhook = webhook_key(default_webhook)

        default_store_url = env.get(RESULTS_STORE, "").strip()
        if not default_store_url.isprintable():
            raise BadInput(f"{RESULTS_STORE}: {default_store_url!r}: expected a folder or s3://bucket/prefix")
        try:
            default_store = _real_store(record_store(default_store_url or str(DEFAULT_FOLDER)))
            default_store.check()
        except BadInput as e:
            raise BadInput(f"{RESULTS_STORE}: {e}") from None

        allowed_webhooks = []
        for entry in _entries(env.get(ALLOWED_WEBHOOKS, "")):
            try:
                url = _parse_url(entry)
            except ValueError as e:
                raise BadInput(f"{ALLOWED_WEBHOOKS}: {entry!r}: {e}") from None
            if url.scheme != "https" and _host_name(url.raw_host) not in private_hosts:
                raise BadInput(f"{ALLOWED_WEBHOOKS}: {entry!r}: expected an https:// URL (http:// only to a "
                               f"host named in {PRIVATE_HOSTS})")
            if url.raw_user is not None or url.raw_password is not None or url.raw_query_string or url.raw_fragment:
                raise BadInput(f"{ALLOWED_WEBHOOKS}: {entry!r}: expected scheme://host[:port]/path, without "
                               "user, ?query or #fragment")
            allowed_webhooks.append(url)

        allowed_stores = []
        for entry in _entries(env.get(ALLOWED_STORES, "")):
            try:
                allowed_stores.append(_real_store(record_store(entry)))
            except BadInput as e:
                raise BadInput(f"{ALLOWED_STORES}: {e}") from None

        return cls(default_webhook=default_webhook, default_store=default_store,
                   allowed_webhooks=allowed_webhooks, allowed_stores=allowed_stores,
                   private_hosts=private_hosts, getaddrinfo=getaddrinfo, inner_resolver=inner_resolver)

    # -- the webhook

    def webhook(self, asked: str | None) -> str | None:
        """The webhook this exam's result goes to: the body's (asked), checked, or the operator's;
        None when neither names one. BadInput, one line naming results.webhook, if refused.
        Resolves the host (blocking: call it in a thread from a running event loop)."""
        if asked is None or not asked.strip():
            return self.default_webhook
        if self.trusts(asked):
            return self.default_webhook
        why = self.refusal(asked)
        if why is not None:
            raise BadInput(f"{WEBHOOK_FIELD}: {asked!r}: {why}")
        url = URL(asked.strip())
        host = _host_name(url.raw_host)
        if host not in self.private_hosts:
            why = self._not_public(url)
            if why is not None:
                raise BadInput(f"{WEBHOOK_FIELD}: {asked!r}: {why}")
        return webhook_key(asked)

    def trusts(self, url: str) -> bool:
        """Whether url is the operator's own webhook (taken as it is)."""
        return self.default_webhook is not None and webhook_key(url) == self.default_webhook

    def refusal(self, text: str) -> str | None:
        """Why a webhook URL that is not the operator's may not be used, without resolving it;
        None if it may. For a waiting delivery, this (and the connector) is the check."""
        if self.trusts(text):
            return None
        try:
            url = _parse_url(text.strip())
        except ValueError as e:
            return str(e)
        host = _host_name(url.raw_host)
        private = host in self.private_hosts
        if url.scheme != "https" and not private:
            return f"expected an https:// URL (http:// only to a host named in {PRIVATE_HOSTS})"
        if url.raw_user is not None or url.raw_password is not None or "@" in (url.raw_authority or ""):
            return "a user name or password in the URL is not allowed"
        if url.raw_fragment:
            return "a #fragment is not allowed"
        if "\\" in url.path or any(segment in (".", "..") for segment in url.path.split("/")):
            return "'.' or '..' in the path is not allowed"
        if not private:
            why = _literal_refusal(host)
            if why is not None:
                return why
        if not self.allowed_webhooks:
            return (f"this deployment takes no webhook from the start body ({ALLOWED_WEBHOOKS} is not set); "
                    "leave it out to use the deployment's own")
        if not any(_url_inside(url, entry) for entry in self.allowed_webhooks):
            return f"not under any URL in {ALLOWED_WEBHOOKS}"
        return None

    def _not_public(self, url: URL) -> str | None:
        host = url.raw_host
        try:
            infos = self._getaddrinfo(host, url.port or 443, type=socket.SOCK_STREAM)
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        except (OSError, UnicodeError, ValueError) as e:
            return f"{host} does not resolve ({' '.join(str(getattr(e, 'strerror', None) or e).split())})"
        if not addresses:
            return f"{host} does not resolve"
        for address in addresses:
            if not is_public(address):
                return (f"{host} resolves to {address}, not a public address (only hosts named in "
                        f"{PRIVATE_HOSTS} may be)")
        return None

    def connector(self, url: str) -> Callable[[], aiohttp.BaseConnector] | None:
        """For an Outbox to url: connectors that refuse non-public addresses at every connection;
        None (aiohttp's own) for the operator's webhook, trusted as it is."""
        if self.trusts(url):
            return None
        private_hosts, inner = self.private_hosts, self._inner_resolver

        def guarded() -> aiohttp.BaseConnector:
            return aiohttp.TCPConnector(resolver=PublicOnlyResolver(private_hosts, inner() if inner else None))

        return guarded

    # -- the store

    def store(self, asked: str | None) -> RecordStore:
        """The store this exam's record goes to: the body's (asked), checked, or the operator's.
        BadInput, one line naming results.store, if refused or unusable. Nothing is written."""
        if asked is None or not asked.strip():
            return self.default_store
        if not asked.isprintable():
            raise BadInput(f"{STORE_FIELD}: {asked!r}: expected a folder or s3://bucket/prefix, without control "
                           "characters")
        try:
            store = _real_store(record_store(asked))
        except BadInput as e:
            raise BadInput(f"{STORE_FIELD}: {e}") from None
        if _same_store(store, self.default_store):
            return self.default_store
        if isinstance(store, S3Store) and any(part in (".", "..") for part in store.prefix.split("/")):
            raise BadInput(f"{STORE_FIELD}: {asked!r}: '.' or '..' in the prefix is not allowed")
        if not self.allowed_stores:
            raise BadInput(f"{STORE_FIELD}: {asked!r}: this deployment takes no store from the start body "
                           f"({ALLOWED_STORES} is not set); leave it out to use the deployment's own")
        if not any(_store_inside(store, allowed) for allowed in self.allowed_stores):
            raise BadInput(f"{STORE_FIELD}: {asked!r}: not under any store in {ALLOWED_STORES}")
        try:
            store.check()
        except BadInput as e:
            raise BadInput(f"{STORE_FIELD}: {e}") from None
        return store


def _entries(value: str) -> list[str]:
    return [entry for entry in _LIST_SEPARATORS.split(value) if entry]


def _literal_refusal(host: str) -> str | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        if all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
            # inet_aton reads these as an address (0x7f000001 is 127.0.0.1); a real name never looks so.
            return f"{host!r} is an address in an odd numeric form; expected a host name"
        return None
    if not is_public(address):
        return f"{address} is not a public address (only hosts named in {PRIVATE_HOSTS} may be)"
    return None


def _url_inside(url: URL, entry: URL) -> bool:
    if (url.scheme, _host_name(url.raw_host), url.port) != (entry.scheme, _host_name(entry.raw_host), entry.port):
        return False
    base = entry.path.rstrip("/")
    return url.path == base or url.path.startswith(base + "/")


def _real_store(store: RecordStore) -> RecordStore:
    # A folder by its real path (symlinks and .. resolved), so "under an allowed folder" is
    # about where the files land, and stays so after the check.
    if isinstance(store, LocalStore):
        return LocalStore(Path(os.path.realpath(store.root)))
    return store


def _same_store(a: RecordStore, b: RecordStore) -> bool:
    if isinstance(a, LocalStore) and isinstance(b, LocalStore):
        return a.root == b.root
    if isinstance(a, S3Store) and isinstance(b, S3Store):
        return (a.bucket, a.prefix) == (b.bucket, b.prefix)
    return False


def _store_inside(store: RecordStore, allowed: RecordStore) -> bool:
    if isinstance(store, LocalStore) and isinstance(allowed, LocalStore):
        return store.root == allowed.root or allowed.root in store.root.parents
    if isinstance(store, S3Store) and isinstance(allowed, S3Store):
        if store.bucket != allowed.bucket:
            return False
        base = [part for part in allowed.prefix.split("/") if part]
        return store.prefix.split("/")[:len(base)] == base
    return False
