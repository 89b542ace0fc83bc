"""`python -m local.model_server --check`: the install step that proves the compiled llama.cpp answers on this CPU."""

import pytest

from local import model_server


@pytest.fixture
def server_python(tmp_path, monkeypatch):
    """Stands in for the llama venv's python: a shell script whose body the test writes."""
    python = tmp_path / "python"
    monkeypatch.setattr(model_server, "PYTHON", python)
    monkeypatch.setattr(model_server, "model_path", lambda: tmp_path / "model.gguf")

    def write(body: str) -> None:
        python.write_text(f"#!/bin/sh\n{body}\n")
        python.chmod(0o755)

    return write


def test_a_build_the_cpu_cannot_run_is_named_by_its_signal(server_python):
    server_python("kill -ILL $$")
    with pytest.raises(SystemExit, match=r"llama\.cpp exited with signal SIGILL"):
        model_server.check()


def test_a_failing_answer_shows_the_end_of_what_it_printed(server_python):
    server_python("echo 'model file not found' >&2; exit 3")
    with pytest.raises(SystemExit, match=r"code 3.*model file not found"):
        model_server.check()


def test_a_build_that_answers_passes(server_python, capsys):
    server_python("exit 0")
    model_server.check()
    assert "answers on this CPU" in capsys.readouterr().out
