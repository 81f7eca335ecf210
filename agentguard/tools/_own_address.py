"""Whether a connection to an address stays on this machine or its own networks, in any range.

The ``internal`` ranges are a fixed list. Two kinds of address are in none of them, yet reach what
a name-based allow never meant to open:

* the host's own public address (a cloud VM's or a bare-metal server's, on an interface): a
  service bound to ``0.0.0.0`` answers there as on loopback;
* a neighbour on a network the host is attached to with public addresses (an IPv6 home or office
  LAN has global addresses: the router's admin page at ``prefix::1``, a NAS, a printer); anyone
  who saw one connection from the host knows its prefix.

On Linux the kernel says both over netlink: a route lookup (``ip route get``) of type ``local``,
and the networks of the interface addresses (``ip addr``). Elsewhere only the first is checked:
the source address the kernel picks for a connected UDP socket (no packet is sent) being the
address itself; so too where netlink refuses the questions (a seccomp filter, gVisor). A netlink
answer that cannot be read counts as "here" (fail closed: such an address then needs an ``ip()``
rule).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from collections.abc import Iterator

__all__ = ["reaches_local"]

_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_RTM_NEWADDR, _RTM_GETADDR = 20, 22
_RTM_NEWROUTE, _RTM_GETROUTE = 24, 26
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_RTA_DST = 1
_IFA_ADDRESS = 1
_RTN_LOCAL, _RTN_BROADCAST = 2, 3
_NLMSG = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")
# No route, or an address that cannot be a destination: the connection cannot be made either.
_NOWHERE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINVAL, errno.EACCES, errno.EAFNOSUPPORT})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class _Unreadable(Exception):
    """A netlink answer this module cannot read."""


class _Refused(Exception):
    """Netlink refused the question (filtered, not implemented): the portable check answers."""


def reaches_local(address: Address) -> bool:
    """True when ``address`` is this machine itself or on a network one of its interfaces is on."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
    except (AttributeError, OSError):  # not Linux, or netlink filtered: the portable check
        return _source_is_itself(address)
    with sock:
        sock.settimeout(5)
        try:
            return _route_is_local(sock, address) or _on_attached_network(sock, address)
        except (OSError, _Refused):
            return _source_is_itself(address)
        except (_Unreadable, struct.error, ValueError):
            return True


def _request(
    sock: socket.socket, kind: int, flags: int, seq: int, body: bytes
) -> Iterator[tuple[int, bytes]]:
    """Send one netlink request; yield (type, payload) of each answer until the last."""
    sock.sendto(_NLMSG.pack(_NLMSG.size + len(body), kind, _NLM_F_REQUEST | flags, seq, 0) + body, (0, 0))
    while True:
        data = sock.recv(65536)
        if not data:
            raise _Unreadable("netlink closed")
        pos = 0
        while pos + _NLMSG.size <= len(data):
            length, answer, _flags, answer_seq, _pid = _NLMSG.unpack_from(data, pos)
            if length < _NLMSG.size or pos + length > len(data):
                raise _Unreadable("bad netlink message length")
            payload = data[pos + _NLMSG.size : pos + length]
            pos += (length + 3) & ~3
            if answer_seq != seq:
                continue
            if answer == _NLMSG_DONE:
                return
            yield answer, payload
            if not flags & _NLM_F_DUMP:
                return


def _attributes(payload: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    while offset + _RTATTR.size <= len(payload):
        length, kind = _RTATTR.unpack_from(payload, offset)
        if length < _RTATTR.size:
            raise _Unreadable("bad netlink attribute length")
        yield kind, payload[offset + _RTATTR.size : offset + length]
        offset += (length + 3) & ~3


def _route_is_local(sock: socket.socket, address: Address) -> bool:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    packed = address.packed
    attr = _RTATTR.pack(_RTATTR.size + len(packed), _RTA_DST) + packed
    body = _RTMSG.pack(family, len(packed) * 8, 0, 0, 0, 0, 0, 0, 0) + attr
    for kind, payload in _request(sock, _RTM_GETROUTE, 0, 1, body):
        if kind == _NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", payload)
            if -code in _NOWHERE:
                return False
            raise _Refused(f"route lookup failed: errno {-code}")
        if kind == _RTM_NEWROUTE:
            return _RTMSG.unpack_from(payload)[7] in (_RTN_LOCAL, _RTN_BROADCAST)
    raise _Unreadable("no answer to the route lookup")


def _on_attached_network(sock: socket.socket, address: Address) -> bool:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    body = _IFADDRMSG.pack(family, 0, 0, 0, 0)
    for kind, payload in _request(sock, _RTM_GETADDR, _NLM_F_DUMP, 2, body):
        if kind == _NLMSG_ERROR:
            raise _Refused("address dump failed")
        if kind != _RTM_NEWADDR:
            continue
        answer_family, prefix, _flags, _scope, _index = _IFADDRMSG.unpack_from(payload)
        if answer_family != family:
            continue
        for attr, value in _attributes(payload, _IFADDRMSG.size):
            if attr == _IFA_ADDRESS and len(value) == len(address.packed):
                network = ipaddress.ip_network((ipaddress.ip_address(value), prefix), strict=False)
                if address in network:
                    return True
    return False


def _source_is_itself(address: Address) -> bool:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((str(address), 9))
            source = sock.getsockname()[0]
    except OSError as exc:
        return exc.errno not in _NOWHERE
    return ipaddress.ip_address(str(source).split("%", 1)[0]) == address
