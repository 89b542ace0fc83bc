"""A socket-level guard for tests that must never send traffic off this machine.

While installed, every connect (TCP or UDP, blocking or asyncio's non-blocking one, which also goes through
`socket.socket.connect`) and every `sendto` to an address outside the loopback ranges is refused with
ConnectionRefusedError and recorded. Loopback connects are let through and recorded too, so tests can check where
a client really connected. Unix sockets are not affected.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass, field


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@dataclass
class EgressGuard:
    blocked: list[tuple[str, int]] = field(default_factory=list)
    allowed: list[tuple[str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _saved: dict = field(default_factory=dict)

    def check(self, sock: socket.socket, address) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        host, port = address[0], address[1]
        with self._lock:
            if is_loopback(host):
                self.allowed.append((host, port))
                return
            self.blocked.append((host, port))
        raise ConnectionRefusedError(f"test egress guard: connection to {host}:{port} blocked")

    def install(self) -> EgressGuard:
        guard = self
        cls = socket.socket
        self._saved = {name: getattr(cls, name) for name in ("connect", "connect_ex", "sendto")}
        connect, connect_ex, sendto = self._saved["connect"], self._saved["connect_ex"], self._saved["sendto"]

        def guarded_connect(sock, address):
            guard.check(sock, address)
            return connect(sock, address)

        def guarded_connect_ex(sock, address):
            guard.check(sock, address)
            return connect_ex(sock, address)

        def guarded_sendto(sock, data, *args):
            guard.check(sock, args[-1])
            return sendto(sock, data, *args)

        cls.connect, cls.connect_ex, cls.sendto = guarded_connect, guarded_connect_ex, guarded_sendto
        return self

    def uninstall(self) -> None:
        for name, original in self._saved.items():
            setattr(socket.socket, name, original)
        self._saved = {}

    def __enter__(self) -> EgressGuard:
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()
