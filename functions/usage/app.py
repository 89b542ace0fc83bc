"""UsageFunction: GET /api/usage through Mangum."""

from mangum import Mangum

from airelay import snapstart
from airelay.routers import usage
from airelay.web import create_app

app = create_app(usage.router)
handler = Mangum(app, lifespan="off")
snapstart.register_runtime_hooks()
