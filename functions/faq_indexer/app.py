"""FaqIndexerFunction: an FAQ source uploaded under FAQ_SOURCE_PREFIX in the FAQ bucket -> the index at
FAQ_INDEX_URL (a plain Lambda handler for S3 ObjectCreated events; not behind the API)."""

from airelay import snapstart
from airelay.faq.indexer import handle_s3_event, prepare
from airelay.observability import configure, logger, metrics, tracer
from airelay.settings import get_settings

configure(get_settings())  # what create_app does for the functions behind the API
prepare(get_settings())
snapstart.register_runtime_hooks()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event, context):
    return handle_s3_event(event, context.aws_request_id)
