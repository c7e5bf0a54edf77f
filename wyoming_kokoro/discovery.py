"""Advertise the server over mDNS so Home Assistant discovers it.

Home Assistant's Wyoming integration browses for `_wyoming._tcp.local.` records and offers
every one it finds as a new device. It connects to the advertised address and port, ignores
records whose address is unspecified (0.0.0.0 or ::) and reads no TXT properties, so what
matters here is a stable instance name and addresses that clients can actually reach.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import socket
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import ifaddr
from zeroconf import InterfaceChoice, InterfacesType, IPVersion, NonUniqueNameException
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from .errors import ConfigError

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."
"""The record type Home Assistant browses for."""

_MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
_UNSPECIFIED_HOSTS = {"": (4, 6), "0.0.0.0": (4,), "::": (6,)}
"""Wildcard bind hosts and the address families a server bound to them accepts.

asyncio binds "::" with IPV6_V6ONLY, so it takes no IPv4 connections, and "0.0.0.0" takes
no IPv6 ones; only "" listens on both. Advertising an address family the server does not
listen on would hand clients an address that refuses them.
"""
_MAX_LABEL_BYTES = 63
_OWNER_LOOKUP_MS = 1500

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _host_identity() -> str:
    """Something that stays the same across restarts of this host, for stable names.

    The machine id survives reboots and renames; the hostname is the next best thing (in a
    container it may change when the container is re-created); the MAC address is the last
    resort (uuid.getnode() falls back to a random number when it finds no MAC).
    """
    for path in _MACHINE_ID_FILES:
        try:
            machine_id = Path(path).read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            continue
        if machine_id:
            return f"machine-id:{machine_id}"
    hostname = socket.gethostname()
    if hostname and hostname != "localhost":
        return f"hostname:{hostname}"
    return f"mac:{uuid.getnode():012x}"


def _short_hash(purpose: str, value: str) -> str:
    """8 hex digits derived from `value`; hashing keeps the machine id itself private."""
    return hashlib.sha256(f"wyoming-kokoro/{purpose}/{value}".encode()).hexdigest()[:8]


def default_service_name() -> str:
    """`kokoro-` plus a short hash of this host's identity: stable, unique, a valid DNS label.

    Stability matters because Home Assistant remembers a discovered device by its name; a
    new name after every restart would look like a new device each time.
    """
    return f"kokoro-{_short_hash('name', _host_identity())}"


def _check_instance_name(name: str) -> str:
    """The DNS-SD instance name, or a ConfigError saying what a valid one looks like."""
    if (
        not name
        or len(name.encode()) > _MAX_LABEL_BYTES
        or "." in name
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in name)
    ):
        raise ConfigError(
            f"zeroconf: service name '{name}' is not usable; give 1 to {_MAX_LABEL_BYTES} "
            "bytes without dots or control characters, e.g. --zeroconf kokoro-livingroom"
        )
    return name


def _dedupe(addresses: Iterable[Address]) -> list[Address]:
    return list(dict.fromkeys(addresses))


def _parse_address(text: str) -> Address:
    """An IP literal; IPv6 zone suffixes (%eth0) are dropped, mDNS records carry none."""
    return ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])


def _resolve(host: str, option: str) -> list[Address]:
    """The addresses `host` (an IP literal or a name) stands for, never unspecified ones."""
    try:
        found = [_parse_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as err:
            raise ConfigError(f"{option}: cannot resolve host '{host}' ({err})") from err
        found = _dedupe(_parse_address(str(info[4][0])) for info in infos)
    usable = [address for address in found if not address.is_unspecified]
    if not usable:
        raise ConfigError(
            f"{option}: '{host}' is not an address clients can connect to; "
            "give this host's LAN address or a name that resolves to it"
        )
    return usable


def _interface_addresses(families: Iterable[int]) -> list[Address]:
    """Every address of this host's interfaces in the given IP versions."""
    wanted = set(families)
    found: list[Address] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                address = _parse_address(text)
            except ValueError:
                continue
            if address.version in wanted and not (address.is_unspecified or address.is_multicast):
                found.append(address)
    return _dedupe(found)


def _primary_addresses() -> set[Address]:
    """The source addresses the kernel picks for mDNS and for the default IPv6 route.

    Connecting a UDP socket sends nothing; it only asks the routing table. Home Assistant
    connects to the first usable address it gets, so the address on the LAN that carries
    our mDNS packets goes first, ahead of e.g. a Docker bridge address.
    """
    primary: set[Address] = set()
    targets = ((socket.AF_INET, ("224.0.0.251", 5353)), (socket.AF_INET6, ("2001:db8::1", 9)))
    for family, target in targets:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect(target)
                primary.add(_parse_address(str(probe.getsockname()[0])))
        except (OSError, ValueError):
            continue
    return primary


def _pick_reachable(candidates: list[Address]) -> list[Address]:
    """Drop loopback and link-local addresses unless nothing else is left.

    A loopback address is useless to another machine; a link-local one works only on the
    same link and Home Assistant skips it. Fallbacks keep a host with nothing better
    (a sandbox, a point-to-point link) discoverable at all.
    """
    routable = [a for a in candidates if not (a.is_loopback or a.is_link_local)]
    if routable:
        return routable
    link_local = [a for a in candidates if a.is_link_local and not a.is_loopback]
    return link_local or candidates


def advertised_addresses(bind_host: str, override: str | None) -> list[str]:
    """The addresses to put in the mDNS record, best first, IPv4 before IPv6.

    `override` (--zeroconf-host, a comma-separated list of addresses or host names) wins,
    for hosts where the server is reached through an address it cannot see (NAT, a
    container without host networking). A specific bind address is the only one that
    accepts connections, so it is used as is. A wildcard bind is replaced by the host's
    real interface addresses of the families it listens on: an unspecified address in
    the record would make Home Assistant ignore it.
    """
    if override is not None and override.strip():
        resolved: list[Address] = []
        for entry in override.split(","):
            if entry.strip():
                resolved.extend(_resolve(entry.strip(), "zeroconf_host"))
        return [str(address) for address in _dedupe(resolved)]

    host = bind_host.strip().strip("[]")
    families = _UNSPECIFIED_HOSTS.get(host)
    if families is None:
        return [str(address) for address in _resolve(host, "uri")]

    candidates = _pick_reachable(_interface_addresses(families))
    if not candidates:
        versions = " or ".join(f"IPv{family}" for family in families)
        raise ConfigError(
            f"zeroconf: this host has no {versions} address to advertise for bind address "
            f"'{bind_host}'; set --zeroconf-host to the address clients should use"
        )
    primary = _primary_addresses()
    ordered = sorted(
        enumerate(candidates),
        key=lambda item: (item[1] not in primary, item[1].version, item[0]),
    )
    return [str(address) for _, address in ordered]


def _ip_version(addresses: Iterable[str]) -> IPVersion:
    """Speak mDNS over the IP versions we advertise addresses of."""
    versions = {ipaddress.ip_address(address).version for address in addresses}
    if versions == {4}:
        return IPVersion.V4Only
    if versions == {6}:
        return IPVersion.V6Only
    return IPVersion.All


class ZeroconfAdvertiser:
    """Registers NAME._wyoming._tcp.local. for one server port, and withdraws it on stop.

    The name never changes on its own (no "-2" suffix after a restart): Home Assistant
    identifies the device by it. After a crash, peers still cache our old record; nobody
    answers our probe for it, and the announcement replaces it (cache-flush). If something
    does answer for the name and its record points at this host's SRV target (an earlier
    run still shutting down, or a proxy repeating its record), we take the name over; a
    holder on another host is a real conflict and stops the start with a clear error.
    """

    def __init__(
        self,
        port: int,
        name: str | None,
        bind_host: str,
        host_override: str | None = None,
        properties: Mapping[str, str] | None = None,
        interfaces: InterfacesType | None = None,
    ) -> None:
        if not 0 < port < 65536:
            raise ConfigError(f"zeroconf: port {port} is not a TCP port (1-65535)")
        self._name = _check_instance_name(name or default_service_name())
        self._port = port
        self._bind_host = bind_host
        self._host_override = host_override
        self._properties = dict(properties or {})
        self._interfaces = interfaces
        self._addresses: list[str] = []
        self._zeroconf: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None
        self._announcing: asyncio.Future | None = None

    @property
    def name(self) -> str:
        """The instance name, e.g. kokoro-1a2b3c4d (what Home Assistant shows)."""
        return self._name

    @property
    def service_name(self) -> str:
        """The full record name, NAME._wyoming._tcp.local."""
        return f"{self._name}.{SERVICE_TYPE}"

    @property
    def addresses(self) -> list[str]:
        """The advertised addresses; empty until start() has run."""
        return list(self._addresses)

    @property
    def port(self) -> int:
        return self._port

    def _server_host(self) -> str:
        """The SRV target host name: per name and per host, the same on every restart.

        It has to differ between hosts so a conflicting record can be told apart from one
        left behind by an earlier run of this host.
        """
        label = re.sub(r"[^a-z0-9-]+", "-", self._name.lower()).strip("-")[:54].strip("-")
        return f"{label or 'kokoro'}-{_short_hash('host', _host_identity())}.local."

    def _transport(self, addresses: list[str]) -> tuple[InterfacesType, IPVersion | None]:
        """Where to send and listen for mDNS.

        A server bound to one address is reachable only through that interface, so mDNS
        stays there too (a loopback-bound server is announced on loopback only). Wildcard
        binds and overrides use every interface.
        """
        if self._interfaces is not None:
            return self._interfaces, None
        ip_version = _ip_version(addresses)
        specific = self._bind_host.strip().strip("[]") not in _UNSPECIFIED_HOSTS
        if specific and not (self._host_override and self._host_override.strip()):
            local = {str(a) for a in _interface_addresses((4, 6))}
            if all(address in local for address in addresses):
                return list(addresses), ip_version
        return InterfaceChoice.All, ip_version

    async def start(self) -> None:
        """Probe for the name, then announce the record; does nothing if already started."""
        if self._zeroconf is not None:
            return
        loop = asyncio.get_running_loop()
        addresses = await loop.run_in_executor(
            None, advertised_addresses, self._bind_host, self._host_override
        )
        interfaces, ip_version = self._transport(addresses)
        try:
            zeroconf = AsyncZeroconf(interfaces=interfaces, ip_version=ip_version)
        except (OSError, RuntimeError, ValueError) as err:
            raise ConfigError(
                f"zeroconf: cannot open mDNS sockets for {', '.join(addresses)} ({err})"
            ) from err
        info = AsyncServiceInfo(
            SERVICE_TYPE,
            self.service_name,
            port=self._port,
            properties=self._properties,
            server=self._server_host(),
            parsed_addresses=addresses,
        )
        try:
            self._announcing = await self._register(zeroconf, info)
        except BaseException:
            await zeroconf.async_close()
            raise
        self._zeroconf, self._info, self._addresses = zeroconf, info, addresses
        _LOGGER.info(
            "Zeroconf: advertising %s at %s port %d",
            self.service_name,
            ", ".join(addresses),
            self._port,
        )

    async def _register(self, zeroconf: AsyncZeroconf, info: AsyncServiceInfo) -> asyncio.Future:
        """Register under exactly our name; take it over only from this host's earlier run."""
        try:
            return await zeroconf.async_register_service(info, allow_name_change=False)
        except NonUniqueNameException:
            pass
        holder = AsyncServiceInfo(SERVICE_TYPE, info.name)
        if not holder.load_from_cache(zeroconf.zeroconf):
            await holder.async_request(zeroconf.zeroconf, _OWNER_LOOKUP_MS)
        if (holder.server or "").lower() != (info.server or "").lower():
            where = ", ".join(holder.parsed_addresses()) or "an unknown address"
            raise ConfigError(
                f"zeroconf: another device ({holder.server or 'unknown host'} at {where}) "
                f"already advertises the name '{self._name}'; choose a different one with "
                "--zeroconf NAME"
            )
        _LOGGER.info(
            "Zeroconf: %s is still advertised by an earlier run on this host; taking it over",
            info.name,
        )
        return await zeroconf.async_register_service(
            info, allow_name_change=False, cooperating_responders=True
        )

    async def stop(self) -> None:
        """Send the goodbye (so browsers drop the record now) and close; safe to repeat."""
        zeroconf, info, announcing = self._zeroconf, self._info, self._announcing
        self._zeroconf = self._info = self._announcing = None
        if zeroconf is None or info is None:
            return
        if announcing is not None and not announcing.done():
            # An announcement still in flight would re-advertise the record after goodbye.
            announcing.cancel()
        try:
            goodbye = await zeroconf.async_unregister_service(info)
            await goodbye
            _LOGGER.info("Zeroconf: withdrew %s", info.name)
        except Exception:
            _LOGGER.warning("Zeroconf: could not send the goodbye for %s", info.name, exc_info=True)
        finally:
            await zeroconf.async_close()
