"""Lambda SnapStart: what an environment restored from a snapshot must not keep from the one that was snapshotted.

Lambda runs a function's INIT once per published version, snapshots the initialized environment and restores
every new execution environment from that snapshot. Whatever INIT made is then shared by all of them, and may be
days old. `after_restore()` makes each restored environment its own again:

- randomness: `random`'s generator (and numpy's legacy one, where numpy is loaded) is reseeded from the OS; every
  restored copy would otherwise draw the same numbers (e.g. the upstream retries' jitter). `secrets`, `uuid.uuid4` and
  `os.urandom` read the OS and need nothing;
- connections and credentials: the AWS clients (airelay.aws: the usage ledger's DynamoDB, S3, SSM) are closed and
  made again, their credentials resolved anew; the providers that call out get clients with empty connection pools
  (their keys read from SSM again: only those a kept provider holds); no request goes out on a socket whose peer
  forgot it long ago;
- secrets: the visitor token and tool proof secrets read from SSM at INIT are read again, after the provider keys
  and only if those were read; the reads stop at the first failure;
- time: the FAQ index is checked against its store now, not when the snapshot's clock says it was checked.

Lambda ends the after-restore hooks at 10 s and the invocation fails (SnapStartTimeoutException), while one SSM or S3
call that hangs takes the SDK's attempts times the read timeout, with backoff between them: up to 12 s at the
defaults. So the clients and the reads run in a thread of their own, waited for at most RESTORE_WAIT_S; what is
still running then goes on beside the first requests, which read for themselves what they need and do not have (the
provider keys count as not read until the thread has read them).

`before_snapshot()` closes the same connections, so that the snapshot holds none.

How the hooks are called: in the Mangum functions by the Python runtime, through `snapshot_restore_py` (part of
the managed runtime only: `register_runtime_hooks()` is a no-op elsewhere); in the chat function, run by the
Lambda Web Adapter as a separate process, by the adapter's POSTs to AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH and
AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH (`serve_web_adapter_hooks(app)`).
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time

log = logging.getLogger("airelay.snapstart")

RESTORE_WAIT_S = 7.0  # of Lambda's 10 s for the hooks: the rest is the runtime's and the Web Adapter's


def reseed_randomness() -> None:
    random.seed()  # from os.urandom
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()  # the legacy global generator, also from the OS


_aws_services: tuple[str, ...] = ()  # the AWS clients the container had made before the snapshot


def drop_connections() -> None:
    """Closes the AWS clients (their connections, and the credentials and parameters they hold) and gives the
    providers that call out new connection pools."""
    from . import aws
    from .providers import registry

    global _aws_services
    _aws_services = tuple(dict.fromkeys((*_aws_services, *aws.reset())))
    registry.renew_connections()


def renew_aws_clients() -> None:
    """Makes the AWS clients again, so the first request after a restore finds them made (credentials resolved
    anew: under SnapStart, from Lambda's container credentials endpoint)."""
    from . import aws

    global _aws_services
    if _aws_services:
        aws.prepare(*_aws_services)
    _aws_services = ()


def renew_provider_keys() -> bool:
    """The provider keys read from SSM at INIT, read again (rotated since the snapshot, perhaps). Returns whether
    SSM answered."""
    from .providers import registry
    from .settings import get_settings

    return registry.renew_keys(get_settings())


def reread_secrets() -> None:
    """The SSM parameters read at INIT (the visitor token and tool proof secrets): the snapshot's may be days old, and
    the first request would otherwise read them. Only in the functions behind the API (web.create_app read them): the
    FAQ indexer gets VISITOR_TOKEN_SECRET_PARAM from the Globals too, but may not read it and has no use for it."""
    if "airelay.web" not in sys.modules:
        return
    from . import aws
    from .settings import get_settings

    aws.read_ahead(*aws.secret_names(get_settings()))


def recheck_faq_indexes() -> None:
    if "airelay.faq.service" in sys.modules:  # only the functions that answer FAQ questions hold an index
        from .faq import service

        service.recheck_indexes()


_dropped_for_snapshot = False


def before_snapshot() -> None:
    global _dropped_for_snapshot
    drop_connections()
    _dropped_for_snapshot = True
    log.info("SnapStart: ready for the snapshot")


def after_restore() -> None:
    from .providers import registry

    global _dropped_for_snapshot
    started = time.perf_counter()
    reseed_randomness()
    if not _dropped_for_snapshot:  # nothing was dropped before (no before-snapshot hook ran here): do it now
        drop_connections()
    _dropped_for_snapshot = False
    registry.mark_keys_stale()  # until the thread has read them, whether it fails, hangs or ends in time
    calls_out = threading.Thread(target=renew_from_aws, name="airelay-restore", daemon=True)
    calls_out.start()
    calls_out.join(RESTORE_WAIT_S)
    if calls_out.is_alive():
        log.warning("SnapStart: AWS calls still running after %.0f s; they go on beside the requests", RESTORE_WAIT_S)
    log.info("SnapStart: restored in %.1f ms", (time.perf_counter() - started) * 1000)


def renew_from_aws() -> None:
    """The part of a restore that calls out: the AWS clients made again, the provider keys and secrets read, the FAQ
    indexes checked."""
    try:
        renew_aws_clients()
        if renew_provider_keys():  # else SSM is slow or away: the secrets are left to the requests
            reread_secrets()
        recheck_faq_indexes()
    except Exception as exc:  # in this thread, nothing above would see it
        from .observability import log_failure

        log_failure(log, "SnapStart: the restore's calls failed", exc)


def register_runtime_hooks() -> bool:
    """Registers the hooks with the Python runtime (Mangum functions and plain handlers). Returns whether the
    runtime's hook library is there: it is on Lambda's managed Python runtimes only."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


class WebAdapterHooks:
    """Pure ASGI middleware answering the Lambda Web Adapter's SnapStart POSTs, outside every other middleware:
    the adapter sends them itself, with no caller, no key and no request context (it refuses the same paths to
    anyone from outside with a 403)."""

    def __init__(self, app, before_path: str, after_path: str) -> None:
        self.app = app
        self.hooks = {before_path: before_snapshot, after_path: after_restore}

    async def __call__(self, scope, receive, send) -> None:
        hook = self.hooks.get(scope.get("path")) if scope["type"] == "http" else None
        if hook is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        hook()  # blocking for a moment is fine: no request is served while the adapter waits for its answer
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def serve_web_adapter_hooks(app) -> bool:
    """Adds WebAdapterHooks to a FastAPI app run behind the Lambda Web Adapter with the SnapStart paths set (the
    chat function on Lambda); elsewhere the paths are not served at all. Returns whether it did."""
    from .settings import get_settings

    settings = get_settings()
    before, after = settings.lwa_before_checkpoint_path, settings.lwa_after_restore_path
    if not (settings.behind_web_adapter and before and after):
        return False
    app.add_middleware(WebAdapterHooks, before_path=before, after_path=after)
    return True
