"""ClassifyFunction: POST /api/image/classify, behind API Gateway through Mangum.

model/efficientnet-lite0.onnx is written by `make models` and packaged with this folder by `sam build`.
"""

from mangum import Mangum

from airelay import snapstart
from airelay.observability import logger, metrics, tracer
from airelay.routers import classify
from airelay.web import create_app

app = create_app(classify.router, settings=classify.upload_settings())
asgi = Mangum(app, lifespan="off")
snapstart.register_runtime_hooks()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # answers stay out of the traces
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event, context):
    return asgi(event, context)
