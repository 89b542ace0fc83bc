import { createClient } from '@airelay/client';

const airelay = createClient({ baseUrl: 'http://127.0.0.1:8000' });

// Streams one answer into `render`; returns the final text, finish reason, tokens and cost.
export async function ask(message, render, signal) {
  const stream = airelay.streamChat({ message, persona: 'assistant', max_tokens: 256 }, { signal });
  for await (const { text } of stream) render(text, stream.status);
  return stream.done();
}

export const sentimentOf = (text) => airelay.sentiment(text);
export const todaysBudget = async () => (await airelay.usage({ days: 1 })).budget;
