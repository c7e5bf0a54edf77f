"""Zeroconf discovery as Home Assistant sees it: a real mDNS browser finds the record.

Everything runs on the loopback interface with real multicast: the advertiser under test and
a separate Zeroconf instance that browses `_wyoming._tcp.local.` like Home Assistant does.
Where multicast on loopback does not work (some sandboxes), each mDNS test re-runs itself
inside a private network namespace (`unshare -rn`, loopback up with multicast on); where
that is impossible too, the mDNS tests are skipped with the reason, never passed unseen.

On CI (the environment variable CI set to a true value, as CI services do: CI=true) and with
KOKORO_TEST_MDNS=require that skip is a failure: there the mDNS tests must run.
KOKORO_TEST_MDNS=netns always uses the namespace (to test that path). (Not WYOMING_KOKORO_*:
the server refuses environment variables in its own namespace that it does not know.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ifaddr
import pytest
from wyoming.audio import AudioChunk
from wyoming.client import AsyncClient
from wyoming.tts import Synthesize
from zeroconf import IPVersion, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from wyoming_kokoro import __version__
from wyoming_kokoro.discovery import (
    SERVICE_TYPE,
    ZeroconfAdvertiser,
    advertised_addresses,
    default_service_name,
)
from wyoming_kokoro.errors import ConfigError

from .conftest import ServerProcess, describe, server_args

ROOT = Path(__file__).resolve().parents[1]
MODE_ENV = "KOKORO_TEST_MDNS"
CI_ENV = "CI"
TRUE_WORDS = ("1", "true", "yes", "on")
NETNS_SETUP = "ip link set lo up && ip link set lo multicast on"
WAIT_S = 10.0
LOOPBACK = "127.0.0.1"
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


# -- where multicast works ------------------------------------------------------------


def loopback_multicast_works() -> bool:
    """Whether a datagram sent to the mDNS group on 127.0.0.1 comes back to a member."""
    token = secrets.token_bytes(16)
    group = "224.0.0.251"
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
        ):
            receiver.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            receiver.bind(("", 0))
            receiver.setsockopt(
                socket.IPPROTO_IP,
                socket.IP_ADD_MEMBERSHIP,
                socket.inet_aton(group) + socket.inet_aton(LOOPBACK),
            )
            receiver.settimeout(1.0)
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOOPBACK))
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            sender.sendto(token, (group, receiver.getsockname()[1]))
            while True:
                if receiver.recv(64) == token:
                    return True
    except OSError:
        return False


def netns_unavailable_reason() -> str | None:
    """None if this user can make a private network namespace with multicast on lo."""
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed"
    try:
        result = subprocess.run(
            ["unshare", "-rn", "sh", "-c", NETNS_SETUP],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"'unshare -rn' failed: {err}"
    if result.returncode != 0:
        return f"'unshare -rn' failed: {result.stderr.strip() or result.returncode}"
    return None


def mdns_required(environ: Mapping[str, str]) -> bool:
    """Whether the mDNS tests must run rather than skip: on CI, or when asked to."""
    if environ.get(MODE_ENV, "") in ("require", "netns"):
        return True
    return environ.get(CI_ENV, "").strip().lower() in TRUE_WORDS


@dataclass
class Mdns:
    """Runs an mDNS test in this process, or re-runs it in a private network namespace."""

    here: bool

    def ran_elsewhere(self, request: pytest.FixtureRequest) -> bool:
        """True when the test ran (and passed) in a namespace; its body must then return."""
        if self.here:
            return False
        command = [
            "unshare",
            "-rn",
            "sh",
            "-c",
            f'{NETNS_SETUP} && exec "$0" "$@"',
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            request.node.nodeid,
        ]
        result = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, MODE_ENV: "inside"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = result.stdout + result.stderr
        passed = re.search(r"\b1 passed\b", output) and "skipped" not in output
        if result.returncode != 0 or not passed:
            pytest.fail(f"test failed inside its network namespace:\n{output}")
        return True


@pytest.fixture(scope="session")
def mdns() -> Mdns:
    mode = os.environ.get(MODE_ENV, "")
    if mode == "inside":
        if not loopback_multicast_works():
            pytest.fail("multicast on lo does not work even inside the test's network namespace")
        return Mdns(here=True)
    if mode != "netns" and loopback_multicast_works():
        return Mdns(here=True)
    reason = netns_unavailable_reason()
    if reason is None:
        return Mdns(here=False)
    message = (
        "mDNS discovery NOT tested: multicast on the loopback interface does not work here "
        f"and no private network namespace can be made ({reason})"
    )
    if mdns_required(os.environ):
        pytest.fail(message)
    print(message, file=sys.stderr)
    pytest.skip(message)


# -- a browser like Home Assistant's ----------------------------------------------------


@dataclass
class Browser:
    """A separate Zeroconf instance browsing _wyoming._tcp on loopback."""

    zeroconf: AsyncZeroconf
    changes: list[tuple[str, ServiceStateChange]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_change(
        self,
        zeroconf: Any,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        self.changes.append((name, state_change))
        self.changed.set()

    async def wait_for(self, name: str, change: ServiceStateChange, since: int = 0) -> None:
        """Until the browser reports `change` for `name` (after the first `since` changes)."""

        async def seen() -> None:
            while (name, change) not in self.changes[since:]:
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(seen(), WAIT_S)
        except asyncio.TimeoutError:
            pytest.fail(f"browser saw no {change.name} for {name}; it saw {self.changes}")

    async def resolve(self, name: str) -> AsyncServiceInfo:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        assert await info.async_request(self.zeroconf.zeroconf, 3000), f"{name} did not resolve"
        return info

    async def wait_for_port(self, name: str, port: int) -> AsyncServiceInfo:
        """Until the browser's view of `name` points at `port`."""
        for _ in range(int(WAIT_S * 10)):
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if info.load_from_cache(self.zeroconf.zeroconf) and info.port == port:
                return info
            await asyncio.sleep(0.1)
        pytest.fail(f"the browser never saw {name} move to port {port}")


def loopback_zeroconf() -> AsyncZeroconf:
    return AsyncZeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)


@asynccontextmanager
async def browsing() -> AsyncIterator[Browser]:
    browser = Browser(loopback_zeroconf())
    service_browser = AsyncServiceBrowser(
        browser.zeroconf.zeroconf, SERVICE_TYPE, handlers=[browser.on_change]
    )
    try:
        yield browser
    finally:
        await service_browser.async_cancel()
        await browser.zeroconf.async_close()


async def fresh_lookup(name: str) -> AsyncServiceInfo | None:
    """What a newcomer (empty cache) learns about `name` within 1.5 s."""
    zeroconf = loopback_zeroconf()
    try:
        return await zeroconf.async_get_service_info(SERVICE_TYPE, name, timeout=1500)
    finally:
        await zeroconf.async_close()


@asynccontextmanager
async def listening_port(greeting: bytes) -> AsyncIterator[int]:
    """A real TCP listener on loopback that greets each connection."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, LOOPBACK, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def assert_reachable(info: AsyncServiceInfo, greeting: bytes) -> None:
    """Every advertised address takes a TCP connection to our listener."""
    addresses = info.parsed_addresses()
    assert addresses, "the record has no address"
    for address in addresses:
        assert not ipaddress.ip_address(address).is_unspecified
        reader, writer = await asyncio.open_connection(address, info.port)
        try:
            assert await asyncio.wait_for(reader.read(len(greeting)), 5) == greeting
        finally:
            writer.close()


def unique_name() -> str:
    return f"kokoro-test-{secrets.token_hex(4)}"


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


# -- names and addresses (no multicast needed) ----------------------------------------


@pytest.mark.parametrize(
    ("environ", "required"),
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"CI": "1"}, True),
        ({"CI": "True "}, True),
        ({"CI": "false"}, False),
        ({"CI": "0"}, False),
        ({"CI": ""}, False),
        ({MODE_ENV: "require"}, True),
        ({MODE_ENV: "netns"}, True),
        ({MODE_ENV: "inside", "CI": "false"}, False),
    ],
)
def test_mdns_tests_are_required_on_ci(environ: dict[str, str], required: bool) -> None:
    assert mdns_required(environ) is required


def test_default_name_is_a_stable_dns_label_across_processes() -> None:
    name = default_service_name()
    assert name == default_service_name()
    assert name.startswith("kokoro-")
    assert DNS_LABEL.match(name), name
    other_process = subprocess.run(
        [
            sys.executable,
            "-c",
            "from wyoming_kokoro.discovery import default_service_name as d; print(d())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert other_process.stdout.strip() == name, "a restart must keep the name"


def host_addresses() -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    found = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            found.add(ipaddress.ip_address(text.split("%")[0]))
    return found


@pytest.mark.parametrize(("bind", "versions"), [("0.0.0.0", {4}), ("", {4, 6}), ("::", {6})])
def test_wildcard_bind_advertises_real_addresses_of_the_families_served(
    bind: str, versions: set[int]
) -> None:
    mine = {a for a in host_addresses() if a.version in versions}
    if not mine:
        with pytest.raises(ConfigError, match="--zeroconf-host"):
            advertised_addresses(bind, None)
        return
    addresses = [ipaddress.ip_address(a) for a in advertised_addresses(bind, None)]
    assert addresses
    assert len(set(addresses)) == len(addresses)
    for address in addresses:
        assert not address.is_unspecified, "Home Assistant ignores unspecified addresses"
        assert address.version in versions, f"{bind!r} does not accept IPv{address.version}"
        assert address in mine, f"{address} is not an address of this host"
    if any(not (a.is_loopback or a.is_link_local) for a in mine):
        assert not any(a.is_loopback or a.is_link_local for a in addresses), addresses
    assert [a.version for a in addresses] == sorted(a.version for a in addresses), "IPv4 first"


def test_specific_bind_and_override_addresses() -> None:
    assert advertised_addresses("127.0.0.1", None) == ["127.0.0.1"]
    assert advertised_addresses("[::1]", None) == ["::1"]
    overridden = advertised_addresses("0.0.0.0", " 192.0.2.7 , localhost,192.0.2.7")
    assert overridden[0] == "192.0.2.7"
    assert "127.0.0.1" in overridden or "::1" in overridden, "host names are resolved"
    assert len(overridden) == len(set(overridden))
    assert advertised_addresses("127.0.0.1", "") == ["127.0.0.1"], "empty override: bind address"
    with pytest.raises(ConfigError, match=r"zeroconf_host: '0\.0\.0\.0'"):
        advertised_addresses("127.0.0.1", "0.0.0.0")
    with pytest.raises(ConfigError, match=r"zeroconf_host: cannot resolve host 'nope\.invalid'"):
        advertised_addresses("0.0.0.0", "nope.invalid")


@pytest.mark.parametrize("name", ["a.b", "x" * 64, "tab\there"])
def test_unusable_service_names_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError, match="--zeroconf"):
        ZeroconfAdvertiser(10200, name, LOOPBACK)


# -- discovery over real multicast ----------------------------------------------------


def test_browser_finds_the_service_and_loses_it_after_stop(
    mdns: Mdns, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    if mdns.ran_elsewhere(request):
        return
    caplog.set_level(logging.INFO, logger="wyoming_kokoro.discovery")

    async def scenario() -> None:
        name = unique_name()
        async with listening_port(b"kokoro!") as port, browsing() as browser:
            advertiser = ZeroconfAdvertiser(
                port, name, LOOPBACK, properties={"version": __version__, "voices": "81"}
            )
            await advertiser.start()
            try:
                assert advertiser.service_name == f"{name}._wyoming._tcp.local."
                assert advertiser.addresses == [LOOPBACK]
                await browser.wait_for(advertiser.service_name, ServiceStateChange.Added)
                info = await browser.resolve(advertiser.service_name)
                assert info.port == port
                assert info.decoded_properties == {"version": __version__, "voices": "81"}
                await assert_reachable(info, b"kokoro!")
            finally:
                await advertiser.stop()
            await browser.wait_for(advertiser.service_name, ServiceStateChange.Removed)
            assert await fresh_lookup(advertiser.service_name) is None
            await advertiser.stop()  # idempotent

    run(scenario())
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("advertising" in m and "127.0.0.1" in m and "port" in m for m in logged), logged


CHILD_ADVERTISER = """
import asyncio, sys
from wyoming_kokoro.discovery import ZeroconfAdvertiser

async def main():
    advertiser = ZeroconfAdvertiser(int(sys.argv[1]), sys.argv[2], "127.0.0.1")
    await advertiser.start()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@asynccontextmanager
async def child_advertiser(port: int, name: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """An advertiser in its own process, which the test can crash (SIGKILL: no goodbye)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD_ADVERTISER,
        str(port),
        name,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 30)  # type: ignore[union-attr]
        if line.strip() != b"ready":
            error = await child.stderr.read()  # type: ignore[union-attr]
            pytest.fail(f"child advertiser did not start: {error.decode(errors='replace')}")
        yield child
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


def test_restart_after_a_crash_keeps_the_name_and_updates_the_port(
    mdns: Mdns, request: pytest.FixtureRequest
) -> None:
    if mdns.ran_elsewhere(request):
        return

    async def scenario() -> None:
        name = unique_name()
        full = f"{name}.{SERVICE_TYPE}"
        async with (
            listening_port(b"old") as old_port,
            listening_port(b"new") as new_port,
            browsing() as browser,
        ):
            async with child_advertiser(old_port, name) as child:
                await browser.wait_for(full, ServiceStateChange.Added)
                assert (await browser.resolve(full)).port == old_port
                child.kill()  # crash: the browser keeps the stale record
            advertiser = ZeroconfAdvertiser(new_port, name, LOOPBACK)
            await advertiser.start()
            try:
                assert advertiser.service_name == full, "no renaming after a crash"
                info = await browser.wait_for_port(full, new_port)
                await assert_reachable(info, b"new")
            finally:
                await advertiser.stop()

    run(scenario())


def test_own_earlier_run_still_answering_is_taken_over(
    mdns: Mdns, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    if mdns.ran_elsewhere(request):
        return
    caplog.set_level(logging.INFO, logger="wyoming_kokoro.discovery")

    async def scenario() -> None:
        name = unique_name()
        full = f"{name}.{SERVICE_TYPE}"
        async with listening_port(b"old") as old_port, listening_port(b"new") as new_port:
            async with child_advertiser(old_port, name) as child:
                advertiser = ZeroconfAdvertiser(new_port, name, LOOPBACK)
                await advertiser.start()  # the holder is this host: no error, no rename
                child.kill()
            try:
                assert advertiser.service_name == full
                info = await fresh_lookup(full)
                assert info is not None and info.port == new_port
                await assert_reachable(info, b"new")
            finally:
                await advertiser.stop()

    run(scenario())
    assert any("taking it over" in r.getMessage() for r in caplog.records)


def test_name_held_by_another_host_is_a_clear_error(
    mdns: Mdns, request: pytest.FixtureRequest
) -> None:
    if mdns.ran_elsewhere(request):
        return

    async def scenario() -> None:
        name = unique_name()
        full = f"{name}.{SERVICE_TYPE}"
        other = loopback_zeroconf()
        try:
            held = AsyncServiceInfo(
                SERVICE_TYPE,
                full,
                port=4321,
                server="elsewhere.local.",
                parsed_addresses=[LOOPBACK],
            )
            await other.async_register_service(held)
            advertiser = ZeroconfAdvertiser(10200, name, LOOPBACK)
            with pytest.raises(ConfigError, match=rf"already advertises the name '{name}'") as err:
                await advertiser.start()
            assert "--zeroconf NAME" in str(err.value)
            assert advertiser.addresses == []
            info = await fresh_lookup(full)
            assert info is not None and info.port == 4321, "the other device keeps its record"
        finally:
            await other.async_close()

    run(scenario())


# -- the real server process ----------------------------------------------------------


def test_cli_server_is_discoverable_and_says_goodbye_when_stopped_mid_reply(
    mdns: Mdns, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """SIGTERM while a reply is being spoken: goodbye sent, exit 0 within the 10 s limit."""
    if mdns.ran_elsewhere(request):
        return
    weights_dir: Path = request.getfixturevalue("weights_dir")
    name = unique_name()
    full = f"{name}.{SERVICE_TYPE}"
    server = ServerProcess(server_args(weights_dir, "--zeroconf", name))
    text = " ".join(f"This is sentence number {n}." for n in range(1, 25))

    exit_codes: list[int] = []

    async def scenario() -> None:
        assert server.process is not None
        async with browsing() as browser:
            await browser.wait_for(full, ServiceStateChange.Added)
            info = await browser.resolve(full)
            assert info.port == server.port
            assert info.parsed_addresses() == [LOOPBACK]
            uri = f"tcp://{info.parsed_addresses()[0]}:{info.port}"
            found = await describe(uri)
            assert [program.name for program in found.tts] == ["kokoro"]
            async with AsyncClient.from_uri(uri) as client:
                await client.write_event(Synthesize(text=text).event())
                while True:
                    event = await asyncio.wait_for(client.read_event(), 120)
                    assert event is not None, server.log()
                    if AudioChunk.is_type(event.type):
                        break
                server.process.send_signal(signal.SIGTERM)
                await browser.wait_for(full, ServiceStateChange.Removed)
            loop = asyncio.get_running_loop()
            exit_codes.append(
                await loop.run_in_executor(None, lambda: server.process.wait(timeout=10))
            )

    server.start(tmp_path)
    try:
        run(scenario())
        assert exit_codes == [0], server.log()
    finally:
        server.stop()
