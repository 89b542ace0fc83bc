"""SentimentFunction: POST /api/sentiment, behind API Gateway through Mangum."""

from mangum import Mangum

from airelay import snapstart
from airelay.routers import sentiment
from airelay.web import create_app

app = create_app(sentiment.router)
handler = Mangum(app, lifespan="off")
snapstart.register_runtime_hooks()
