"""A build whose source file is replaced while it embeds writes no index: the build of the newer source does."""

import asyncio

from airelay.faq.__main__ import main as faq_cli
from airelay.faq.build import build_to
from airelay.providers import registry
from tests.fakes import KeyedEmbedder

OLD = b"- id: shipping-fee\n  question: How much is shipping?\n  answer: 3,000 won.\n"
NEW = b"- id: shipping-fee\n  question: How much is shipping?\n  answer: 2,500 won, now.\n"


class ReplacingEmbedder(KeyedEmbedder):
    """Its first call stands for a newer version of the source saved while the build embeds."""

    def __init__(self, source) -> None:
        super().__init__("fake/keyed")
        self.source = source

    async def embed(self, texts):
        if self.calls == 0:
            self.source.write_bytes(NEW)
        return await super().embed(texts)


def test_a_build_whose_source_changed_meanwhile_writes_nothing(tmp_path):
    # GIVEN a source that is saved again while its build embeds
    source, index = tmp_path / "faq.yaml", tmp_path / "faq-index.bin"
    source.write_bytes(OLD)
    # WHEN it is built
    report = asyncio.run(build_to(str(source), f"file://{index}", ReplacingEmbedder(source)))
    # THEN no index is written, and the report says why
    assert not index.exists()
    assert (report.superseded, report.bytes, report.entries) == (True, 0, 1)


def test_the_command_line_says_the_source_changed_and_fails(tmp_path, monkeypatch, capsys):
    source, index = tmp_path / "faq.yaml", tmp_path / "faq-index.bin"
    source.write_bytes(OLD)
    monkeypatch.setitem(registry._providers, (registry.Embedder, "fake/keyed"), ReplacingEmbedder(source))
    # WHEN `python -m airelay.faq build` runs on a source saved again during the build
    status = faq_cli(["build", str(source), "--to", f"file://{index}", "--model", "fake/keyed", "--quiet"])
    # THEN it exits non-zero, says so, and writes nothing
    assert status == 1 and not index.exists()
    assert "changed while it was built" in capsys.readouterr().err
