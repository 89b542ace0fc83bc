"""The real local embedder (local/use-multilingual) on the example FAQ: paraphrased Korean and English questions
(tests/faq_dev_set.yaml) must find the right entry, and off-topic questions must fall below the threshold."""

import asyncio
from importlib import resources
from pathlib import Path

import pytest
import yaml

from airelay.faq.build import build_index
from airelay.faq.service import threshold_for
from airelay.faq.source import parse_source
from airelay.providers.registry import embedder
from airelay.settings import Settings

DEV_SET = Path(__file__).resolve().parents[1] / "faq_dev_set.yaml"
MODEL = "local/use-multilingual"


@pytest.fixture(scope="module")
def faq():
    source = parse_source(resources.files("airelay").joinpath("data/faq/shop_faq.yaml").read_bytes(), "shop_faq.yaml")

    async def build():
        use = await embedder(MODEL)
        index, _, _ = await build_index(source, use)
        return use, index

    use, index = asyncio.run(build())
    return use, index, source


def test_dev_set_is_big_enough_and_names_real_entries(faq):
    _, _, source = faq
    dev = yaml.safe_load(DEV_SET.read_text("utf-8"))
    ids = {e.id for e in source.entries}
    assert len(dev["questions"]) >= 40 and len(dev["off_topic"]) >= 10
    assert {q["id"] for q in dev["questions"]} <= ids
    english = [q for q in dev["questions"] if q["q"].isascii()]
    assert 10 <= len(english) < len(dev["questions"])


def test_paraphrased_questions_find_the_right_faq_at_least_90_percent(faq):
    use, index, _ = faq
    dev = yaml.safe_load(DEV_SET.read_text("utf-8"))["questions"]
    # GIVEN the dev set's paraphrases WHEN each is embedded and matched against the example index
    vectors = asyncio.run(use.embed([q["q"] for q in dev])).vectors
    found = [index.match(v, 1)[0].entry.id for v in vectors]
    misses = [(q["q"], q["id"], got) for q, got in zip(dev, found) if got != q["id"]]
    accuracy = 1 - len(misses) / len(dev)
    print(f"\nFAQ top-1 accuracy on {len(dev)} dev questions: {accuracy:.1%}; misses: {misses}")
    # THEN at least 90 % come out on top
    assert accuracy >= 0.90, misses


def test_off_topic_questions_fall_back_and_faq_questions_mostly_do_not(faq):
    use, index, _ = faq
    data = yaml.safe_load(DEV_SET.read_text("utf-8"))
    threshold = threshold_for(MODEL, Settings.from_env({}))
    off = [index.match(v, 1)[0].score for v in asyncio.run(use.embed(data["off_topic"])).vectors]
    on = [index.match(v, 1)[0].score for v in asyncio.run(use.embed([q["q"] for q in data["questions"]])).vectors]
    fallback_rate = sum(s < threshold for s in off) / len(off)
    faq_rate = sum(s >= threshold for s in on) / len(on)
    print(f"\noff-topic fallback rate {fallback_rate:.0%}; dev questions answered from the FAQ {faq_rate:.0%}")
    # THEN off-topic questions go to the model, and most FAQ questions are answered from the FAQ
    assert fallback_rate >= 0.9
    assert faq_rate >= 0.8
