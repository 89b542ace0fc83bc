"""The SnapStart hooks and the container's AWS clients (airelay.aws), against a DynamoDB stand-in on loopback that
records each request's connection and access key (tests/integration/test_aws_clients.py)."""

import time

from airelay import aws, snapstart
from tests.integration.test_aws_clients import KEY, environment, serve

__all__ = ["environment", "serve"]  # fixtures, shared


def closed_in_time(server, port: int) -> bool:
    deadline = time.monotonic() + 5
    while port not in server.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    return port in server.closed


def test_the_snapshot_keeps_no_aws_connection_and_a_restore_makes_new_clients_with_new_credentials(serve, environment):
    server = serve()
    environment.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint)
    aws.reset()
    # GIVEN the DynamoDB client made at INIT and used there, its connection kept alive
    aws.prepare("dynamodb")
    made_at_init = aws.clients().dynamodb
    made_at_init.get_item(TableName="usage", Key=KEY)
    [(init_port, _)] = server.seen
    # WHEN Lambda takes the snapshot THEN the connection is closed before it
    snapstart.before_snapshot()
    assert closed_in_time(server, init_port)
    # WHEN an environment is restored from it, with credentials of its own
    environment.setenv("AWS_ACCESS_KEY_ID", "AKIDRESTORED")
    snapstart.after_restore()
    # THEN its DynamoDB client is made again at once (before any request asks), a new one
    assert set(aws.clients()._made) == {"dynamodb"}
    restored = aws.clients().dynamodb
    assert restored is not made_at_init
    # AND it signs with the new credentials, on a new connection
    restored.get_item(TableName="usage", Key=KEY)
    (_, first_key), (restored_port, restored_key) = server.seen
    assert (first_key, restored_key) == ("AKIDFIRST", "AKIDRESTORED")
    assert restored_port != init_port
