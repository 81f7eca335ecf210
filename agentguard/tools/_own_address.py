"""Whether a connection to an address stays on this machine: one of its own addresses, in any range.

The ``internal`` ranges are a fixed list; a host's own public address (a cloud VM's or a bare-metal
server's, carried on an interface) is in none of them, yet a service bound to ``0.0.0.0`` answers
there as on loopback. The kernel's routing decision says it: on Linux a route lookup over netlink
(``ip route get``) of type ``local``; elsewhere, the source address the kernel picks for a
connected UDP socket (no packet is sent) being the address itself. When the lookup itself fails
in an unexpected way the answer is "here" (fail closed: such an address needs an ``ip()`` rule).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import struct

__all__ = ["routes_here"]

_RTM_NEWROUTE, _RTM_GETROUTE = 24, 26
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 1
_RTA_DST = 1
_RTN_LOCAL, _RTN_BROADCAST = 2, 3
_NLMSG = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")
# No route, or an address that cannot be a destination: the connection cannot be made either.
_NOWHERE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINVAL, errno.EACCES, errno.EAFNOSUPPORT})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def routes_here(address: Address) -> bool:
    """True when the kernel delivers packets for ``address`` to this machine itself."""
    if hasattr(socket, "AF_NETLINK"):
        with contextlib.suppress(_NoNetlink):
            return _netlink_route_is_local(address)
    return _source_is_itself(address)


class _NoNetlink(Exception):
    """Netlink cannot be used here (no socket, a filter); the portable check answers instead."""


def _netlink_route_is_local(address: Address) -> bool:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    packed = address.packed
    attr = _RTATTR.pack(_RTATTR.size + len(packed), _RTA_DST) + packed
    body = _RTMSG.pack(family, len(packed) * 8, 0, 0, 0, 0, 0, 0, 0) + attr
    request = _NLMSG.pack(_NLMSG.size + len(body), _RTM_GETROUTE, _NLM_F_REQUEST, 1, 0) + body
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
    except OSError:
        raise _NoNetlink from None
    with sock:
        try:
            sock.settimeout(5)
            sock.sendto(request, (0, 0))
            reply = sock.recv(65536)
        except OSError:
            raise _NoNetlink from None
    if len(reply) < _NLMSG.size + 4:
        return True  # unreadable: fail closed
    _length, kind, _flags, _seq, _pid = _NLMSG.unpack_from(reply)
    if kind == _NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", reply, _NLMSG.size)
        return -code not in _NOWHERE
    if kind != _RTM_NEWROUTE or len(reply) < _NLMSG.size + _RTMSG.size:
        return True
    route_type = _RTMSG.unpack_from(reply, _NLMSG.size)[7]
    return route_type in (_RTN_LOCAL, _RTN_BROADCAST)


def _source_is_itself(address: Address) -> bool:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((str(address), 9))
            source = sock.getsockname()[0]
    except OSError as exc:
        return exc.errno not in _NOWHERE
    return ipaddress.ip_address(str(source).split("%", 1)[0]) == address
