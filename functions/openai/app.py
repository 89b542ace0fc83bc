"""OpenAIFunction: /v1/chat/completions, /v1/responses, /v1/embeddings and /v1/models in OpenAI's wire format,
served by uvicorn under the Lambda Web Adapter (see run.sh) so answers can stream, like the chat function."""

from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from airelay import snapstart
from airelay.observability import WebAdapterTrace, logger
from airelay.openai_api import create_openai_app

app = create_openai_app()
snapstart.serve_web_adapter_hooks(app)
app.add_middleware(WebAdapterTrace)
copy_config_to_registered_loggers(source_logger=logger, include={"uvicorn"}, ignore_log_level=True)
