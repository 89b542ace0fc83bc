"""ChatFunction: served by uvicorn under the Lambda Web Adapter (see run.sh), so answers can stream."""

from airelay.routers import chat
from airelay.web import create_app

app = create_app(chat.router)
