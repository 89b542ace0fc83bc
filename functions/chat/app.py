"""ChatFunction: served by uvicorn under the Lambda Web Adapter (see run.sh), so answers can stream. There is no
Lambda handler to decorate: each AI call flushes its own metrics (airelay.observability), the trace of each
invocation reaches the X-Ray SDK through WebAdapterTrace, and uvicorn's own lines go out through the same JSON
logger (at the level run.sh gives uvicorn)."""

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from airelay import snapstart
from airelay.observability import WebAdapterTrace, logger
from airelay.routers import chat
from airelay.web import create_app

app = create_app(chat.router)
snapstart.serve_web_adapter_hooks(app)
app.add_middleware(WebAdapterTrace)
copy_config_to_registered_loggers(source_logger=logger, include={"uvicorn"}, ignore_log_level=True)
