"""ChatFunction: served by uvicorn under the Lambda Web Adapter (see run.sh), so answers can stream. There is no
Lambda handler to decorate: each AI call flushes its own metrics (airelay.observability), and the trace of each
invocation reaches the X-Ray SDK through WebAdapterTrace."""

from airelay.observability import WebAdapterTrace
from airelay.routers import chat
from airelay.web import create_app

app = create_app(chat.router)
app.add_middleware(WebAdapterTrace)
