"""The demo page's chat against the real local model: llama.cpp's server with SmolLM2-135M (`make model-server`)."""

from .stack import run_node


def test_the_demo_chat_streams_an_answer_from_the_local_model(real_model_stack, coffee_jpeg):
    seen = run_node(
        ["tests/e2e/browser/demo.mjs", "real-model"], env={"BASE_URL": real_model_stack, "IMAGE_FILE": str(coffee_jpeg)}
    )
    assert seen["text"].strip()
    assert seen["steps"] >= 3
