"""The container's AWS clients (boto3): made once at INIT, shared by every thread, dropped by `reset()`.

Each module that calls AWS has its client made when it is imported (the function's INIT, which Lambda SnapStart
snapshots) if the settings say the container will call that service: the usage ledger (DynamoDB), the FAQ store
(S3), the provider keys (SSM, through Powertools Parameters). A container that calls none never imports boto3;
one whose settings change after INIT (the local API, tests) gets its client at the first ask.

The clients follow the SDK's own configuration: region, credentials, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`,
`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, `AWS_CA_BUNDLE`, FIPS and dual-stack endpoints, proxies. airelay sets only
what it must decide itself (docs/configuration.md): the timeouts of one attempt, TCP keep-alive, the pool size, no
client-side parameter validation.
"""

from __future__ import annotations

import logging
import threading

from .settings import Settings, get_settings

# Connections kept per client: the usage ledger sends up to five writes at once from each request thread.
POOL_CONNECTIONS = 16
PARAMETER_MAX_AGE_S = 300  # an SSM parameter read is kept this long by Powertools Parameters, then read again

log = logging.getLogger("airelay.aws")


def sdk_config(settings: Settings):
    from botocore.config import Config

    return Config(
        connect_timeout=settings.aws_connect_timeout_s,
        read_timeout=settings.aws_read_timeout_s,
        tcp_keepalive=True,
        max_pool_connections=POOL_CONNECTIONS,
        # botocore's documented switch "for performance reasons": 7-10 % of the client's CPU per ledger call
        # (`python -m bench --only ledger`). airelay's requests have fixed shapes; the service still validates them.
        parameter_validation=False,
    )


class Clients:
    """One boto3 client per service, made at the first ask and kept (boto3 clients are thread-safe)."""

    def __init__(self, settings: Settings, **client_args) -> None:
        """`client_args` go to every `client()` call as they are (tests point them at a local server)."""

        self._args = client_args
        self._lock = threading.RLock()  # a boto3 session is not thread-safe, its clients are
        self._made: dict[str, object] = {}
        self._parameters = None
        self._config = sdk_config(settings)
        self._loader = None
        self._session = self._new_session()

    def _new_session(self):
        """A session of its own (its credentials resolved anew) that reuses the service models the previous one read
        and parsed: making a client then takes a few ms instead of a few hundred (a SnapStart restore's)."""
        import boto3
        import botocore.session

        core = botocore.session.get_session()
        if self._loader is not None:
            core.register_component("data_loader", self._loader)
        self._loader = core.get_component("data_loader")
        return boto3.session.Session(botocore_session=core)

    def client(self, service: str):
        made = self._made.get(service)
        if made is None:
            with self._lock:
                made = self._made.get(service)
                if made is None:
                    made = self._made[service] = self._session.client(service, config=self._config, **self._args)
        return made

    @property
    def dynamodb(self):
        return self.client("dynamodb")

    @property
    def s3(self):
        return self.client("s3")

    @property
    def parameters(self):
        """Powertools' SSM Parameters provider (it caches what it reads) on this container's SSM client."""
        with self._lock:
            if self._parameters is None:
                from aws_lambda_powertools.utilities.parameters import SSMProvider

                self._parameters = SSMProvider(boto3_client=self.client("ssm"))
            return self._parameters

    def make(self, services) -> None:
        for service in services:
            self.client(service)
        if "ssm" in services:
            self.parameters  # noqa: B018 - made now, at INIT

    def reset(self, settings: Settings | None = None) -> tuple[str, ...]:
        """Closes every connection and forgets the clients, the credentials their session resolved and the
        parameters read; the next ask makes each anew from a new session. What a SnapStart restore hook needs: the
        snapshot holds connections and credentials taken at INIT. Returns the services whose clients it dropped."""

        with self._lock:
            old = self._made
            self._config = sdk_config(settings) if settings else self._config
            self._session = self._new_session()
            self._made, self._parameters = {}, None
        for client in old.values():
            client.close()
        return tuple(old)


_clients: Clients | None = None
_clients_lock = threading.Lock()


def clients() -> Clients:
    """The container's clients."""
    global _clients
    if _clients is None:
        with _clients_lock:
            if _clients is None:
                _clients = Clients(get_settings())
    return _clients


def prepare(*services: str) -> None:
    """Makes these clients now: called at module import (INIT) by the modules that will call them."""
    clients().make(services)


def reset() -> tuple[str, ...]:
    """Drops the container's clients (see Clients.reset); they are made again, from the current settings and
    environment, at the next ask, or at once with `prepare(*reset())`."""
    return _clients.reset(get_settings()) if _clients is not None else ()


def parameter(name: str) -> str:
    """An SSM SecureString, decrypted, as requests read it: from Powertools' cache while it is fresh."""
    return clients().parameters.get(name, decrypt=True, max_age=PARAMETER_MAX_AGE_S)


def secret_names(settings: Settings) -> list[str]:
    """The SSM parameters requests check tokens with, where configured: the visitor token secret, and the tool proof
    secret if the chat has tools (without CHAT_TOOLS no proof is made or checked, and the template grants no read)."""
    proof = settings.tool_proof_secret_param if settings.chat_tools else ""
    return [name for name in (settings.visitor_token_secret_param, proof) if name]


def read_ahead(*names: str) -> bool:
    """Reads these parameters now (at INIT, or in a SnapStart restore), so that the first request finds them read.
    Stops at the first that cannot be read (SSM is then slow or away: a restore hook must end within 10 s) and
    leaves the rest to the requests that need them. Returns whether all were read."""
    for name in names:
        try:
            parameter(name)
        except Exception as exc:
            log.warning(
                "SSM parameter %s not read ahead (%s): read by the first request needing it", name, type(exc).__name__
            )
            return False
    return True
