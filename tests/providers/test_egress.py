"""The egress policy under the PRODUCTION setting (an empty allow-list), at add and connect time.

A real server listens on 127.0.0.1; the production client must refuse every loopback form that
leads there (numeric forms, IPv4-mapped IPv6, a name that resolves to it, a redirect to it),
while the same server is reachable through a client that allow-lists loopback, as the local
stack's is (so the refusal is the policy's, not a dead server's).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from shared.providers.base import ChatRequest
from shared.providers.custom import AuthConfig, CustomEndpoint, ResponseFormat
from shared.providers.egress import EgressPolicy, numeric_host
from shared.providers.errors import EndpointNotAllowed, ProviderError, UpstreamTimeout
from shared.providers.http import new_client
from shared.providers.huggingface import HuggingFaceHub
from tests.providers import loopback_client
from tests.providers.hostile import HostileServer, Route

TIMEOUT = httpx.Timeout(5.0, connect=2.0)
REQUEST = ChatRequest(messages=[{"role": "user", "content": "hello"}])
CHAT_OK = b'{"choices": [{"message": {"content": "fine"}, "finish_reason": "stop"}]}'
PRODUCTION = EgressPolicy.from_setting("")

REFUSED_ADDRESSES = [
    "127.0.0.1", "127.255.0.9", "::1", "0.0.0.0", "::",  # loopback, unspecified
    "10.0.0.1", "172.16.5.4", "192.168.1.1",  # private
    "169.254.169.254", "fe80::1",  # link-local (the metadata server)
    "100.64.0.1", "100.127.255.254",  # CGNAT
    "fc00::1", "fd12:3456::1",  # unique-local
    "224.0.0.1", "239.255.255.250", "ff02::1",  # multicast
    "240.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.2.1",  # reserved, benchmarking, docs
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
    "::127.0.0.1",  # IPv4-compatible
    "2002:7f00:1::", "2002:a00:1::",  # 6to4 of 127.0.0.1 and 10.0.0.1
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  # NAT64 of 127.0.0.1 and 169.254.169.254
]  # fmt: skip
PUBLIC_ADDRESSES = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"]
# Every way of writing 127.0.0.1 in a URL that the C library accepts.
LOOPBACK_FORMS = [
    "127.0.0.1", "2130706433", "0x7f000001", "0x7F.0.0.1", "127.1", "127.0.1",
    "0177.0.0.1", "017700000001", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "localhost",
    "LOCALHOST.",
]  # fmt: skip


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert PRODUCTION.refusal(ipaddress.ip_address(address)) is not None
    with pytest.raises(EndpointNotAllowed) as info:
        PRODUCTION.check_url(f"http://{_host(address)}/v1/chat")
    assert info.value.code == "endpoint_not_allowed" and not info.value.retryable


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_pass(address: str) -> None:
    assert PRODUCTION.refusal(ipaddress.ip_address(address)) is None
    PRODUCTION.check_url(f"https://{_host(address)}/v1/chat")


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
def test_every_numeric_form_of_loopback_is_refused_at_add_time(form: str) -> None:
    if not form.lower().startswith("localhost"):
        assert numeric_host(form.strip("[]")) in (
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::ffff:127.0.0.1"),
        )
    with pytest.raises(EndpointNotAllowed):
        PRODUCTION.check_url(f"http://{form}:8000/v1/chat")


def test_the_allow_list_opens_only_its_networks() -> None:
    local = EgressPolicy.from_setting("127.0.0.0/8, ::1/128")
    assert local.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert local.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None  # the same address
    assert local.refusal(ipaddress.ip_address("10.0.0.1")) == "private"
    assert local.refusal(ipaddress.ip_address("169.254.169.254")) == "link-local"


def test_the_metadata_server_is_refused_by_name_whatever_it_resolves_to() -> None:
    local = EgressPolicy.from_setting("0.0.0.0/0, ::/0")
    with pytest.raises(EndpointNotAllowed):
        local.check_url("http://metadata.google.internal/computeMetadata/v1/")


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with HostileServer() as started:
        started.routes["/v1/chat"] = Route(
            headers={"Content-Type": "application/json"}, body=lambda: [CHAT_OK]
        )
        yield started


def _endpoint(client: httpx.Client, url: str) -> CustomEndpoint:
    return CustomEndpoint(
        client=client,
        url=url,
        auth=AuthConfig(method="none", token=None),
        response=ResponseFormat(kind="chat"),
        model=None,
    )


@pytest.mark.parametrize("form", [f for f in LOOPBACK_FORMS if f != "0177.0.0.1"])
def test_the_production_client_refuses_every_loopback_form_at_connect_time(
    server: HostileServer, form: str
) -> None:
    url = f"http://{form}:{server.port}/v1/chat"
    before = len(server.seen.get("/v1/chat", []))
    with new_client() as production, pytest.raises(EndpointNotAllowed) as info:
        _endpoint(production, url).complete(REQUEST, timeout=TIMEOUT)
    assert "127.0.0.1" in str(info.value) and "loopback" in str(info.value)
    assert len(server.seen.get("/v1/chat", [])) == before  # no byte reached the server
    if form.startswith("["):
        return  # the stack's allow-list has 127.0.0.0/8: the mapped form is the same address
    with loopback_client() as local:  # the server is there: the policy is what refused
        assert _endpoint(local, url).complete(REQUEST, timeout=TIMEOUT).output == "fine"


def test_an_octal_form_httpx_cannot_parse_is_refused_before_any_call() -> None:
    with new_client() as production, pytest.raises((ProviderError, ValueError)):
        _endpoint(production, "http://0177.0.0.1:9/v1/chat").complete(REQUEST, timeout=TIMEOUT)


def test_a_redirect_to_a_refused_address_is_refused(server: HostileServer) -> None:
    """A Hub download follows redirects: each hop connects through the policy again."""
    rows = b'{"input": "a", "output": "b"}\n'
    with HostileServer(host="127.0.0.2") as target:
        target.routes["/rows.jsonl"] = Route(body=lambda: [rows])
        server.routes["/datasets/acme/rows/resolve/main/rows.jsonl"] = Route(
            status=302, headers={"Location": f"{target.base_url}/rows.jsonl"}
        )
        url = f"{server.base_url}/datasets/acme/rows/resolve/main/rows.jsonl"
        only_first = EgressPolicy.from_setting("127.0.0.1/32")
        with new_client(egress=only_first) as client:
            hub = HuggingFaceHub(client=client, endpoint=server.base_url, token=None)
            with pytest.raises(EndpointNotAllowed, match=r"127\.0\.0\.2"):
                list(hub.open_rows(url))
        assert "/rows.jsonl" not in target.seen
        with loopback_client() as local:  # both allowed: the redirect is followed
            hub = HuggingFaceHub(client=local, endpoint=server.base_url, token=None)
            assert list(hub.open_rows(url)) == [{"input": "a", "output": "b"}]


def test_a_name_that_resolves_to_a_refused_address_is_refused_when_connecting() -> None:
    with new_client() as production, pytest.raises(EndpointNotAllowed, match="localhost"):
        production.get("http://localhost:9/")  # 'localhost' resolves to 127.0.0.1


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


# -- name lookups are bounded in time ---------------------------------------------------------


def test_a_name_that_resolves_too_slowly_fails_its_call_within_the_timeout() -> None:
    """A tenant's slow name server holds a lookup thread, never the call past the timeout."""
    release = threading.Event()

    def stalled(host: str, port: int, **kwargs: object) -> list:
        release.wait(30)  # a name server that does not answer
        return []

    slow = EgressPolicy(resolve_timeout=0.3, resolver=stalled)
    try:
        with new_client(egress=slow) as client:
            started = time.monotonic()
            with pytest.raises(UpstreamTimeout) as info:
                _endpoint(client, "https://slow.example.com/v1/chat").complete(
                    ChatRequest(messages=[{"role": "user", "content": "hi"}]), timeout=10
                )
            waited = time.monotonic() - started
        assert waited < 3, waited
        assert "DRGERO_EGRESS_RESOLVE_TIMEOUT_SECONDS" in str(info.value.__cause__ or info.value)
        # At add time a name that cannot be resolved in time is left to the connect-time check.
        started = time.monotonic()
        slow.check_url("https://slow.example.com/v1/chat")
        assert time.monotonic() - started < 3
    finally:
        release.set()
