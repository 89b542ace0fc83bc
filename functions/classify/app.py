"""ClassifyFunction: POST /api/image/classify, behind API Gateway through Mangum.

model/efficientnet-lite0.onnx is written by `make models` and packaged with this folder by `sam build`.
"""

from mangum import Mangum

from airelay import snapstart
from airelay.routers import classify
from airelay.web import create_app

app = create_app(classify.router, settings=classify.upload_settings())
handler = Mangum(app, lifespan="off")
snapstart.register_runtime_hooks()
