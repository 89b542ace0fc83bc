"""FaqIndexerFunction: an FAQ source uploaded under FAQ_SOURCE_PREFIX in the FAQ bucket -> the index at
FAQ_INDEX_URL (a plain Lambda handler for S3 ObjectCreated events; not behind the API)."""

from airelay.faq.indexer import INDEXER_IDENTITY, handle_s3_event
from airelay.observability import bind_request, logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event, context):
    bind_request(context.aws_request_id, INDEXER_IDENTITY)  # as its usage rows are filed
    return handle_s3_event(event, context.aws_request_id)
