"""FaqFunction: POST /api/faq, served through Mangum (the answer is one JSON document; nothing streams)."""

from mangum import Mangum

from airelay import snapstart
from airelay.routers import faq
from airelay.web import create_app

app = create_app(faq.router)
handler = Mangum(app, lifespan="off")
snapstart.register_runtime_hooks()
