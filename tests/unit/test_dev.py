"""`make dev` (local/dev.py): the `.env` file in the project root, and the chat model it picks from the keys set.

The servers themselves are not started here: uvicorn.run and the local model server are replaced by recorders,
and the project root by a temporary folder, so a developer's own `.env` is never read or touched."""

import os
import signal

import pytest

from local import dev

SETTINGS = ("CHAT_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "LOCAL_MODEL_BASE_URL", "SENTIMENT_MODEL")


@pytest.fixture(autouse=True)
def environment():
    """The process environment as each test found it, restored afterwards (dev.main writes to it)."""
    saved, handler = dict(os.environ), signal.getsignal(signal.SIGTERM)
    for name in SETTINGS:
        os.environ.pop(name, None)
    yield os.environ
    os.environ.clear()
    os.environ.update(saved)
    signal.signal(signal.SIGTERM, handler)


@pytest.fixture
def started(monkeypatch, tmp_path):
    """Runs dev.main with tmp_path as the project root; returns what it started: {"uvicorn": kwargs, "model": port}."""
    seen = {}

    def serve(app, **options):
        seen["uvicorn"] = {"app": app, **options}

    def start_model(port, log_file):
        seen["model"] = port
        return "the model process"

    def stop_model(process):
        seen["stopped"] = process

    monkeypatch.setattr(dev, "ROOT", tmp_path)
    monkeypatch.setattr(dev.uvicorn, "run", serve)
    monkeypatch.setattr(dev.model_server, "INSTALLED", tmp_path / ".installed-portable")  # no `make model-server`
    dev.model_server.INSTALLED.touch()
    monkeypatch.setattr(dev.model_server, "start", start_model)
    monkeypatch.setattr(dev.model_server, "stop", stop_model)

    def run(*argv: str) -> dict:
        dev.main(list(argv))
        return seen

    return run


@pytest.mark.parametrize(
    ("environment_before", "needs_local_model", "chat_model"),
    [
        ({}, True, None),
        ({"OPENAI_API_KEY": "sk-test"}, False, "openai/gpt-4o-mini"),
        ({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}, False, "openai/gpt-4o-mini"),
        ({"OPENAI_API_KEY": "sk-test", "CHAT_MODEL": "openai/gpt-4o"}, False, "openai/gpt-4o"),
        ({"OPENAI_API_KEY": "sk-test", "CHAT_MODEL": "local/smollm2-135m"}, True, "local/smollm2-135m"),
        ({"CHAT_MODEL": "openai/gpt-4.1-mini"}, False, "openai/gpt-4.1-mini"),
    ],
)
def test_a_key_or_a_base_url_switches_chat_to_openai_unless_a_model_is_chosen(
    environment, environment_before, needs_local_model, chat_model
):
    environment.update(environment_before)
    assert dev.choose_chat_backend() is needs_local_model
    assert environment.get("CHAT_MODEL") == chat_model


def test_make_dev_reads_dot_env_in_the_project_root_without_overriding_the_shell(started, environment, tmp_path):
    # GIVEN a .env in the project root with an OpenAI-compatible server and a sentiment model, and a shell that sets
    # its own sentiment model
    (tmp_path / ".env").write_text(
        "OPENAI_BASE_URL=http://127.0.0.1:11434/v1\nSENTIMENT_MODEL=llm/openai/gpt-4o-mini\n", "utf-8"
    )
    environment["SENTIMENT_MODEL"] = "local/use-multilingual-anchors"
    # WHEN make dev starts
    seen = started("--port", "8123")
    # THEN the .env values are in the environment, the shell's win, and chat goes to the server it names
    assert environment["OPENAI_BASE_URL"] == "http://127.0.0.1:11434/v1"
    assert environment["SENTIMENT_MODEL"] == "local/use-multilingual-anchors"
    assert environment["CHAT_MODEL"] == "openai/gpt-4o-mini"
    # AND the local API is served on 127.0.0.1 only, with no local model server
    assert seen["uvicorn"]["app"] == "local.server:create" and seen["uvicorn"]["factory"] is True
    assert (seen["uvicorn"]["host"], seen["uvicorn"]["port"]) == ("127.0.0.1", 8123)
    assert "model" not in seen


def test_without_a_key_make_dev_starts_the_local_model_and_points_chat_at_it(started, environment):
    seen = started("--port", "8123", "--model-port", "8199")
    assert seen["model"] == 8199 and seen["stopped"] == "the model process"
    assert environment["LOCAL_MODEL_BASE_URL"] == "http://127.0.0.1:8199/v1"
    assert "CHAT_MODEL" not in environment  # the default, local/smollm2-135m
