"""AWS stand-ins on 127.0.0.1 for the tests: moto server, with boto3 pointed at it through the environment, and
dynalite."""

from __future__ import annotations

import contextlib
import logging
import threading
import urllib.request

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from airelay import aws
from airelay.settings import Settings

from .servers import free_port


@contextlib.contextmanager
def moto_server(monkeypatch):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = make_server("127.0.0.1", free_port(), one_at_a_time(), threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws.reset()  # clients made before follow the new environment, as a new container's would
    try:
        yield endpoint
    finally:
        # moto keeps its backends per process, not per server: the next test's server would see this one's state
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
        server.shutdown()
        thread.join(timeout=10)


def one_at_a_time():
    """moto's server app (as its ThreadedMotoServer runs it), handling one request at a time. moto checks a
    condition and then writes the item without a lock, so two threads can both pass `committed <= :room`; DynamoDB
    applies each conditional write atomically. Connections are still served by threads of their own."""
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serial(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    return serial


@contextlib.contextmanager
def dynalite_server():
    """dynalite (npm, in-memory) on 127.0.0.1; tables become ACTIVE at once."""
    import subprocess
    import time
    from pathlib import Path

    binary = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "dynalite"
    if not binary.exists():
        raise RuntimeError("dynalite is not installed: run `make test` (it runs npm install) or `npm install`")
    port = free_port()
    process = subprocess.Popen(
        [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except urllib.error.HTTPError:
            break  # it answers (400 without a signed request): ready
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("dynalite did not start") from None
            time.sleep(0.05)
    try:
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def local_clients(endpoint: str) -> aws.Clients:
    """AWS clients pointed at a local server, with test keys (how a ledger is built for a given server). Generous
    timeouts: a local server on a busy machine can take seconds; the product's own are checked in test_aws.py."""
    return aws.Clients(
        Settings(aws_connect_timeout_s=30, aws_read_timeout_s=30),
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_table_from_template(dynamodb, resource: str, name: str) -> str:
    """Creates a table with the exact key schema and billing mode that template.yaml declares for `resource`."""
    import time

    from local.template import load_template

    props = load_template()["Resources"][resource]["Properties"]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        BillingMode=props["BillingMode"],
    )
    deadline = time.monotonic() + 10
    while dynamodb.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise RuntimeError(f"table {name} did not become ACTIVE")
        time.sleep(0.05)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        try:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        except dynamodb.exceptions.ClientError as error:
            if error.response["Error"]["Code"] != "UnknownOperationException":  # dynalite has no TTL API
                raise
    return name
