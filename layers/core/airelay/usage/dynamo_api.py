"""A small client for DynamoDB's JSON API, signed with SigV4: the calls the usage ledger makes on every AI request.

Not boto3, because of what the ledger pays per request (docs/architecture.md, "Usage ledger on DynamoDB"): boto3
spends about three times the CPU on each call (0.8 ms against 0.25 ms here), and importing it and creating a client
adds about 150 ms to a cold container's first metered call (9 ms here). It honours the SDK's environment:
AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL, and the keys in AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (what Lambda sets), else botocore's credential chain (profiles, SSO,
instance roles).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import random
import select
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from ..errors import NotConfigured

SERVICE = "dynamodb"
CONTENT_TYPE = "application/x-amz-json-1.0"
# The SDK's standard retry mode for DynamoDB: 4 attempts, full-jitter backoff from 25 ms (1 s when throttled), for
# broken connections, these statuses and these error codes.
ATTEMPTS = 4
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "LimitExceededException",
        "HTTP429",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "ReplicatedWriteConflictException",
        "ConnectionError",
        "CRC32Mismatch",
        "UnreadableAnswer",
    }
)


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    token: str = field(default="", repr=False)


class DynamoError(Exception):
    """DynamoDB refused the call: `code` is its error type (ValidationException, ...), `body` its whole answer."""

    def __init__(self, code: str, message: str, body: dict | None = None, status: int = 0) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.body = body or {}
        self.throttled = code in THROTTLING_CODES
        self.retryable = self.throttled or code in TRANSIENT_CODES or status in RETRYABLE_STATUSES


def default_credentials() -> Callable[[], Credentials]:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID", ""), os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if key and secret:
        fixed = Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN", ""))
        return lambda: fixed
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None:
        raise NotConfigured("No AWS credentials for the usage table.")

    def refreshed() -> Credentials:
        frozen = found.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token or "")

    return refreshed


class Signer:
    """AWS Signature Version 4 for a JSON POST to "/" (no query string, every header signed)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._keys: dict[tuple[str, str], bytes] = {}

    def _key(self, secret: str, day: str) -> bytes:
        key = self._keys.get((secret, day))
        if key is None:
            key = ("AWS4" + secret).encode()
            for part in (day, self.region, SERVICE, "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            self._keys = {(secret, day): key}
        return key

    def headers(self, host: str, target: str, body: bytes, credentials: Credentials, now: datetime) -> dict:
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        headers = {"content-type": CONTENT_TYPE, "host": host, "x-amz-date": stamp, "x-amz-target": target}
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        names = sorted(headers)
        signed = ";".join(names)
        canonical = "\n".join(
            [
                "POST",
                "/",
                "",
                *(f"{name}:{headers[name]}" for name in names),
                "",
                signed,
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{stamp[:8]}/{self.region}/{SERVICE}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._key(credentials.secret_key, stamp[:8]), to_sign.encode(), "sha256").hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        return headers


class DynamoApi:
    """`call("UpdateItem", {...})` -> DynamoDB's JSON answer. Thread-safe: one kept-alive connection per thread.

    Each attempt may wait `timeout_s` for the network; a call, retries and pauses included, gives up after
    `deadline_s`, so a request is never held long by accounting."""

    def __init__(
        self,
        region: str = "",
        endpoint: str = "",
        credentials: Callable[[], Credentials] | None = None,
        timeout_s: float = 2.0,
        deadline_s: float = 8.0,
        attempts: int = ATTEMPTS,
    ) -> None:
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        endpoint = (
            endpoint
            or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
            or os.environ.get("AWS_ENDPOINT_URL")
            or f"https://dynamodb.{region}.{domain}"
        )
        parts = urlsplit(endpoint)
        self.host = parts.netloc
        self._https = parts.scheme == "https"
        self._tls: ssl.SSLContext | None = None  # made at the first connection: loading the CAs takes ~20 ms
        self._signer = Signer(region)
        self._credentials = credentials or default_credentials()
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.attempts = attempts
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is not None and connection.sock is not None and select.select([connection.sock], [], [], 0)[0]:
            self._drop_connection()  # an idle connection with something to read was closed by the server
            connection = None
        if connection is None:
            if self._https:
                self._tls = self._tls or ssl.create_default_context()
                connection = http.client.HTTPSConnection(self.host, timeout=self.timeout_s, context=self._tls)
            else:
                connection = http.client.HTTPConnection(self.host, timeout=self.timeout_s)
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _post(self, target: str, body: bytes, timeout_s: float) -> tuple[int, bytes, str | None]:
        headers = self._signer.headers(self.host, target, body, self._credentials(), datetime.now(UTC))
        connection = self._connection()
        connection.timeout = timeout_s
        if connection.sock is not None:
            connection.sock.settimeout(timeout_s)
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("x-amz-crc32")

    def call(self, operation: str, request: dict) -> dict:
        body = json.dumps(request, separators=(",", ":")).encode()
        target = f"DynamoDB_20120810.{operation}"
        give_up = time.monotonic() + self.deadline_s
        for attempt in range(1, max(1, self.attempts) + 1):
            try:
                return self._answer(
                    *self._post(target, body, max(0.05, min(self.timeout_s, give_up - time.monotonic())))
                )
            except (OSError, http.client.HTTPException) as broken:
                self._drop_connection()
                error = DynamoError("ConnectionError", f"{type(broken).__name__}: {broken}"[:200])
            except DynamoError as refused:
                error = refused
            pause = random.uniform(0, (1.0 if error.throttled else 0.025) * 2 ** (attempt - 1))
            if not error.retryable or attempt >= self.attempts or time.monotonic() + pause >= give_up:
                raise error
            time.sleep(pause)

    @staticmethod
    def _answer(status: int, data: bytes, crc: str | None) -> dict:
        if crc is not None and str(zlib.crc32(data)) != crc:
            raise DynamoError("CRC32Mismatch", "the answer was damaged in transit")
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):  # not DynamoDB speaking: a proxy's or load balancer's page
            answer = {}
            if status == 200:
                raise DynamoError("UnreadableAnswer", "the answer was not a JSON object")
        elif status == 200:
            return answer
        code = answer.get("__type", "").rpartition("#")[2] or f"HTTP{status}"
        raise DynamoError(code, answer.get("message") or answer.get("Message") or "", answer, status)
