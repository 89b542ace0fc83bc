"""The FAQ bot itself, through the local API, on the dev set (tests/faq_dev_set.yaml) with its configured
thresholds: shop questions are answered from the FAQ, off-topic ones go to the chat model, at the accuracy the
README states, and FAQ_THRESHOLDS replaces the threshold of data/faq/bot.json."""

from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.upstream import FakeUpstream

DEV_SET = yaml.safe_load((Path(__file__).resolve().parents[1] / "faq_dev_set.yaml").read_text("utf-8"))
EMBEDDER = "local/use-multilingual"
README_THRESHOLD = 0.55  # README, "FAQ bot": the match threshold of local/use-multilingual
README_ANSWERED_RIGHT = 41  # README: of the dev set's 50 shop questions, at least 41 answered from the right entry


@pytest.fixture(scope="module")
def upstream():
    with FakeUpstream() as up:
        yield up


@pytest.fixture(scope="module")
def ask(module_local_api, upstream, example_faq_index):
    """Starts the local API with the example FAQ and the given FAQ_THRESHOLDS; returns a function that asks it."""

    def start(faq_thresholds: str = ""):
        api = module_local_api(
            CHAT_MODEL="openai/gpt-4o-mini",
            OPENAI_BASE_URL=upstream.base_url,
            OPENAI_API_KEY="sk-test",
            FAQ_INDEX_URL=f"file://{example_faq_index}",
            FAQ_EMBEDDING_MODEL="",
            FAQ_THRESHOLDS=faq_thresholds,
            IDENTITY_DAILY_BUDGET_USD=10,
        )

        def answers(questions: list[str]) -> list[dict]:
            with httpx.Client(base_url=api, timeout=30) as client:
                replies = [client.post("/api/faq", json={"question": q}) for q in questions]
            assert [r.status_code for r in replies] == [200] * len(questions)
            return [r.json() for r in replies]

        return answers

    return start


def on_topic() -> tuple[list[str], list[str]]:
    return [q["q"] for q in DEV_SET["questions"]], [q["id"] for q in DEV_SET["questions"]]


def assert_threshold_decides(replies: list[dict], threshold: float) -> None:
    """Each answer comes from the FAQ exactly when its best match reaches the threshold, else from the chat model."""
    wrong = [
        (r["confidence"], r["source"]) for r in replies if (r["source"] == "faq") != (r["confidence"] >= threshold)
    ]
    assert wrong == []
    assert {r["answer"] for r in replies if r["source"] == "model"} <= {FakeUpstream.REPLY_TEXT}


def test_with_the_configured_threshold_shop_questions_are_answered_from_the_faq_and_off_topic_ones_are_not(ask):
    # GIVEN the bot with the threshold of data/faq/bot.json
    answers = ask()
    questions, expected_ids = on_topic()
    # WHEN every dev question and every off-topic question is asked
    shop, off_topic = answers(questions), answers(DEV_SET["off_topic"])
    # THEN every off-topic question goes to the chat model
    assert [r["source"] for r in off_topic] == ["model"] * len(off_topic)
    # AND the shop questions are answered from the right FAQ entry at least as often as the README says
    right = [q for q, r, id_ in zip(questions, shop, expected_ids) if r["source"] == "faq" and r["faq_id"] == id_]
    print(f"\nanswered from the right FAQ entry: {len(right)} of {len(questions)}")
    assert len(right) >= README_ANSWERED_RIGHT
    # AND the README's threshold is the one that decides
    assert_threshold_decides(shop + off_topic, README_THRESHOLD)


def test_faq_thresholds_replaces_the_configured_threshold(ask):
    # GIVEN an operator's stricter threshold in FAQ_THRESHOLDS
    answers = ask(f"{EMBEDDER}=0.7")
    questions, _ = on_topic()
    # WHEN the dev questions are asked
    shop = answers(questions)
    # THEN FAQ_THRESHOLDS decides, and it changed answers the configured threshold would have given from the FAQ
    assert_threshold_decides(shop, 0.7)
    moved = [r for r in shop if README_THRESHOLD <= r["confidence"] < 0.7]
    assert moved and all(r["source"] == "model" for r in moved)
