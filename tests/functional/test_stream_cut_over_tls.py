"""Over HTTPS, a stream cut while the relay is far behind its upstream keeps every delta that arrived. aiohttp stops
reading a body held unread at twice its buffer, and asyncio's (and uvloop's) TLS layer keeps reading the socket
meanwhile, so the reset is seen at once: aiohttp's parser then drops the bytes it held back and the TLS layer its
unread records, which `_read_nowait(-1)` cannot return. A stream's buffer (upstream_http.STREAM_READ_BUFSIZE) is
larger than any answer's events, so aiohttp never stops reading one.

The peer resets only once its kernel reports every byte acknowledged by the client (SIOCOUTQ == 0): all the text
below really arrived before the cut."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import fcntl
import functools
import socket
import ssl
import struct
import termios
import threading
import time

import aiohttp
import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from airelay.errors import AirelayError
from airelay.providers.base import Finished, TextDelta
from tests.functional.test_stream_cut_keeps_received_text import REQUEST, event, framed, head, read_request
from tests.support.loopback_peer import stream_slowly

PIECES = [f"piece {i:06d}; " + "x" * 100 for i in range(3000)]  # 666 KB of SSE: past the 512 KiB high-water mark
BIG_REQUEST = dataclasses.replace(REQUEST, max_tokens=10**6)


def server_context(tmp_path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def unacknowledged(conn: socket.socket) -> int:
    return struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_an_https_stream_cut_while_aiohttp_holds_its_reading_keeps_every_delta_that_arrived(
    loop, tmp_path, monkeypatch
):
    # GIVEN an HTTPS upstream that sends a first delta, then 666 KB more while the relay is busy with the first, and
    # resets the connection once the client's kernel has acknowledged every byte of it
    context = server_context(tmp_path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    seen: dict = {}

    def serve() -> None:
        try:
            raw, _ = listener.accept()
            conn = context.wrap_socket(raw, server_side=True)
            read_request(conn)
            conn.sendall(head(True) + framed(event(PIECES[0]), True))
            time.sleep(0.05)
            conn.sendall(b"".join(framed(event(piece), True) for piece in PIECES[1:]))
            give_up = time.monotonic() + 5
            while unacknowledged(conn) and time.monotonic() < give_up:
                time.sleep(0.005)
            seen["unacknowledged"] = unacknowledged(conn)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        except BaseException as exc:
            seen["failure"] = exc

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setattr(aiohttp, "TCPConnector", functools.partial(aiohttp.TCPConnector, ssl=False))  # self-signed

    async def go():
        base_url = f"https://127.0.0.1:{listener.getsockname()[1]}/v1"
        # the relay writing its first event to a slow client
        events, error = await stream_slowly(base_url, BIG_REQUEST, lambda n: 0.5 if n == 1 else 0)
        return "".join(e.text for e in events if isinstance(e, TextDelta)), events, error

    # WHEN the provider's stream is read
    try:
        text, events, error = (uvloop.run if loop == "uvloop" else asyncio.run)(go())
    finally:
        thread.join(10)
        listener.close()
    assert "failure" not in seen, seen
    assert seen["unacknowledged"] == 0, "the peer's bytes had not all reached the client before the reset"
    # THEN every delta that arrived came out, then an error
    assert isinstance(error, AirelayError) and not any(isinstance(e, Finished) for e in events)
    dropped = len("".join(PIECES)) - len(text)
    assert dropped == 0, f"{dropped} characters that arrived before the cut were dropped"
