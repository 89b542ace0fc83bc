"""A call cut before its provider reported usage is billed an estimate of its prompt (README, "Usage, cost and
budgets"), each image at least what the model called bills for any image (data/prices.json, `image_tokens`):
gpt-4o-mini counts 2,833 prompt tokens for the smallest image, ten times gpt-4o's count."""

import base64
import io

import httpx
from PIL import Image

from tests.integration.openai_api.conftest import KEY, rows
from tests.support.upstream import ResetMidStream


def png_url() -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(out, format="PNG")
    return f"data:image/png;base64,{base64.b64encode(out.getvalue()).decode()}"


def test_a_stream_with_an_image_cut_before_usage_bills_the_image_at_the_models_count(start, upstream, tmp_path):
    # GIVEN a gpt-4o-mini stream with one image, whose connection breaks after two chunks, before any usage report
    base = start()
    upstream.script(ResetMidStream(after_chunks=2))
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": png_url()}}]
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": content}]}
    # WHEN the client reads the stream to its (error) end
    with httpx.stream("POST", f"{base}/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}) as r:
        assert r.status_code == 200
        r.read()
    # THEN the call is billed an estimate that counts the image as gpt-4o-mini does, at least
    [row] = rows(tmp_path)
    assert (row.model, row.estimated) == ("openai/gpt-4o-mini", True)
    assert row.prompt_tokens >= 2833, (row.status, row.prompt_tokens)
