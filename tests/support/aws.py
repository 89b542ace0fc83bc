"""AWS stand-ins on 127.0.0.1 for the tests: moto server, with boto3 pointed at it through the environment."""

from __future__ import annotations

import contextlib
import logging

from moto.server import ThreadedMotoServer

from .servers import free_port


@contextlib.contextmanager
def moto_server(monkeypatch):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield endpoint
    finally:
        server.stop()


@contextlib.contextmanager
def dynalite_server():
    """dynalite (npm, in-memory) on 127.0.0.1; tables become ACTIVE at once."""
    import subprocess
    import time
    import urllib.request
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


def dynamo_api(endpoint: str):
    from airelay.usage.dynamo_api import Credentials, DynamoApi

    # Generous limits: a local server on a busy machine can take seconds (a timed-out CreateTable that is retried
    # finds its table already there); what the product's own limits do is tested in test_dynamo_api.py.
    return DynamoApi(
        region="us-east-1",
        endpoint=endpoint,
        credentials=lambda: Credentials("testing", "testing"),
        timeout_s=30,
        deadline_s=60,
    )


def create_table_from_template(api, resource: str, name: str) -> str:
    """Creates a table with the exact key schema and billing mode that template.yaml declares for `resource`."""
    import time

    from airelay.usage.dynamo_api import DynamoError
    from local.template import load_template

    props = load_template()["Resources"][resource]["Properties"]
    api.call(
        "CreateTable",
        {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props["BillingMode"],
        },
    )
    deadline = time.monotonic() + 10
    while api.call("DescribeTable", {"TableName": name})["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise RuntimeError(f"table {name} did not become ACTIVE")
        time.sleep(0.05)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        try:
            api.call("UpdateTimeToLive", {"TableName": name, "TimeToLiveSpecification": ttl})
        except DynamoError as error:
            if error.code != "UnknownOperationException":  # dynalite has no TTL API
                raise
    return name
