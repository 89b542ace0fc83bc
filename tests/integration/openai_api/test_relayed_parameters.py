"""The generation parameters reach the upstream as sent (`temperature`, `top_p`, `max_tokens` / `max_completion_tokens`,
penalties, `stop`, `seed`, `user`), on chat completions and on Responses; values of refused parameters that ask for
nothing (n: 1, logprobs: false, as LangChain and other clients send them) are not refused."""

from tests.integration.openai_api.conftest import MESSAGES


def test_chat_sampling_parameters_reach_the_model(client, upstream):
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        temperature=0.3,
        top_p=0.9,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        stop=["END", "STOP"],
        seed=42,
        user="user-7",
        max_completion_tokens=77,
    )
    sent = upstream.requests[-1]
    assert {k: sent.get(k) for k in ("temperature", "top_p", "frequency_penalty", "presence_penalty")} == {
        "temperature": 0.3,
        "top_p": 0.9,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
    }
    assert (sent["stop"], sent["seed"], sent["user"]) == (["END", "STOP"], 42, "user-7")
    assert (sent.get("max_tokens") or sent.get("max_completion_tokens")) == 77


def test_max_tokens_reaches_the_model_too(client, upstream):
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=33, stop="END")
    sent = upstream.requests[-1]
    assert (sent.get("max_tokens") or sent.get("max_completion_tokens")) == 33 and sent["stop"] == "END"


def test_the_values_that_ask_nothing_are_accepted(client, upstream):
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, n=1, logprobs=False, store=False, modalities=["text"]
    )
    assert answer.choices[0].message.content == upstream.REPLY_TEXT
    assert len(upstream.requests) == 1 and "n" not in upstream.requests[-1]


def test_responses_sampling_parameters_reach_the_model(client, upstream):
    client.responses.create(
        model="gpt-4o-mini", input="Hi", temperature=0.2, top_p=0.8, max_output_tokens=55, user="u-1", store=False
    )
    sent = upstream.requests[-1]
    assert (sent["temperature"], sent["top_p"], sent["user"]) == (0.2, 0.8, "u-1")
    assert (sent.get("max_tokens") or sent.get("max_completion_tokens")) == 55
