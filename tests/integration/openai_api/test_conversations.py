"""Multi-turn conversations as OpenAI's SDK writes them: the assistant message airelay answered goes back in
`messages` (or `input`) as the SDK holds it."""

import httpx

from tests.integration.openai_api.conftest import KEY, MESSAGES
from tests.support.upstream import Ok

NEXT = {"role": "user", "content": "And again?"}


def test_an_answer_with_reasoning_goes_back_as_history_and_its_reasoning_is_not_relayed(client, upstream):
    # GIVEN an answer with reasoning (message.reasoning_content)
    upstream.script(Ok(tokens=("<think>The user greets me.</think>Hello!",)))
    message = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message
    assert message.reasoning_content == "The user greets me."
    # WHEN the SDK's message object goes back in the history (messages.append(message), as OpenAI's docs show)
    second = client.chat.completions.create(model="gpt-4o-mini", messages=[*MESSAGES, message, NEXT])
    # THEN the next turn is answered, and the model gets the earlier answer without its reasoning
    assert second.choices[0].message.content == upstream.REPLY_TEXT
    assert upstream.requests[-1]["messages"][1] == {"role": "assistant", "content": "Hello!"}


def test_the_null_audio_and_function_call_of_an_assistant_message_are_accepted_and_not_relayed(start, upstream):
    # GIVEN an assistant message as OpenAI's API answers it, with its null audio and function_call
    assistant = {"role": "assistant", "content": "Hi!", "refusal": None, "audio": None, "function_call": None}
    body = {"model": "gpt-4o-mini", "messages": [*MESSAGES, assistant, NEXT]}
    # WHEN it goes back in the history
    answer = httpx.post(f"{start()}/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"})
    # THEN the turn is answered, and the model gets the message's content alone
    assert answer.status_code == 200, answer.text
    assert upstream.requests[-1]["messages"][1] == {"role": "assistant", "content": "Hi!"}


def test_a_function_call_output_of_text_parts_goes_to_the_model_as_their_text(client, upstream):
    # GIVEN a function call and its output given as text parts, as the Responses API allows
    call = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Seoul"}'}
    parts = [{"type": "input_text", "text": "sunny, "}, {"type": "input_text", "text": "21 C"}]
    output = {"type": "function_call_output", "call_id": "call_1", "output": parts}
    # WHEN they go back in `input`
    answer = client.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": "Weather?"}, call, output])
    # THEN the model gets the output as one text
    assert answer.output_text == upstream.REPLY_TEXT
    assert upstream.requests[-1]["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"}
