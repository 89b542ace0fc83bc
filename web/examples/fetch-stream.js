// Streams one answer with plain fetch: no library. Calls onText with the text so far; resolves with the whole
// text; rejects with the server's message. Pass an AbortSignal to stop (the server then stops the model).
export async function streamAnswer(message, { onText, signal } = {}) {
  const response = await fetch('http://127.0.0.1:8000/api/chat/stream', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message, persona: 'assistant', max_tokens: 256 }),
    signal,
  });
  if (!response.ok) throw new Error((await response.json()).error.message);

  // TextDecoderStream keeps a Korean syllable split across two reads whole; the buffer keeps an event
  // split across two reads until its blank line arrives.
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('The stream ended before the answer was finished.');
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const data = buffer.slice(0, end).replace(/^data: /, '');
      buffer = buffer.slice(end + 2);
      if (data === '[DONE]') return text;
      const part = JSON.parse(data);
      if (part.type === 'text-delta') onText?.((text += part.delta));
      if (part.type === 'error') throw new Error(part.errorText);
    }
  }
}
