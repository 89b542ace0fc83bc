"""airelay through OpenAI's Python SDK: only the base URL and an airelay API key change."""

import os

from openai import OpenAI
from pydantic import BaseModel

client = OpenAI(
    base_url=os.environ.get("AIRELAY_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("AIRELAY_API_KEY", "dev"),  # on AWS: the API key of the usage plan
)

# a buffered answer
answer = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello."}])
print(answer.choices[0].message.content)

# a streamed one, with its usage at the end
stream = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Say hello."}],
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.choices:
        print(chunk.choices[0].delta.content or "", end="")
    elif chunk.usage:
        print(f"\n{chunk.usage.total_tokens} tokens")


# structured output: checked against the schema on the server, never prose
class City(BaseModel):
    name: str
    population: int


parsed = client.responses.parse(model="gpt-4o-mini", input="The biggest city of Korea?", text_format=City)
print(parsed.output_parsed)
