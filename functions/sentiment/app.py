"""SentimentFunction: POST /api/sentiment, behind API Gateway through Mangum."""

from mangum import Mangum

from airelay import snapstart
from airelay.observability import logger, metrics, tracer
from airelay.routers import sentiment
from airelay.web import create_app

app = create_app(sentiment.router)
asgi = Mangum(app, lifespan="off")
snapstart.register_runtime_hooks()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # answers stay out of the traces
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event, context):
    return asgi(event, context)
