"""ChatFunction: served by uvicorn under the Lambda Web Adapter (see run.sh), so answers can stream."""

from airelay import snapstart
from airelay.routers import chat
from airelay.web import create_app

app = create_app(chat.router)
snapstart.serve_web_adapter_hooks(app)
