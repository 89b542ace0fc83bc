"""FaqIndexerFunction: an FAQ source uploaded under FAQ_SOURCE_PREFIX in the FAQ bucket -> the index at
FAQ_INDEX_URL (a plain Lambda handler for S3 ObjectCreated events; not behind the API)."""

from airelay import snapstart
from airelay.faq.indexer import handle_s3_event

snapstart.register_runtime_hooks()


def handler(event, context):
    return handle_s3_event(event, getattr(context, "aws_request_id", ""))
