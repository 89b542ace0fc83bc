// Reads an AI SDK "UI message stream": Server-Sent Events whose `data:` is one JSON part each,
// ending with `data: [DONE]`. No dependencies, so it can be unit-tested on its own.
//
// What the seed tutorial got wrong and this gets right:
// - bytes are decoded with one TextDecoder in streaming mode, so a Korean syllable or an emoji split
//   across two network reads is not turned into U+FFFD;
// - lines are buffered until an event is complete (a blank line), so an event split across reads is kept;
// - `\r\n`, `\n` and `\r` all end a line, even when a `\r\n` pair is split across two reads;
// - several `data:` lines in one event are joined with `\n`, as the SSE spec says;
// - `[DONE]` is only the end marker when it is a whole event, never when it is inside a token.

export class StreamFormatError extends Error {
  constructor(message) {
    super(message);
    this.name = 'StreamFormatError';
  }
}

/**
 * An incremental SSE parser. `push(text)` takes decoded text (any chunking) and returns the `data`
 * of each event completed by it; `end()` is called once at the end of the body.
 * `event:`, `id:` and `retry:` fields and `:` comment lines are ignored: the UI message stream does not use them.
 */
export function createEventParser() {
  let buffer = '';
  let dataLines = [];
  let hasData = false;

  function takeLine(line, events) {
    if (line === '') {
      if (hasData) events.push(dataLines.join('\n'));
      dataLines = [];
      hasData = false;
      return;
    }
    if (line.startsWith(':')) return; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    dataLines.push(value);
    hasData = true;
  }

  function push(text) {
    buffer += text;
    const events = [];
    let start = 0;
    while (start < buffer.length) {
      const cr = buffer.indexOf('\r', start);
      const lf = buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end;
      let next;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A lone `\r` at the very end may be the first half of `\r\n`: wait for the next read.
        if (cr === buffer.length - 1) break;
        end = cr;
        next = buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      takeLine(buffer.slice(start, end), events);
      start = next;
    }
    buffer = buffer.slice(start);
    return events;
  }

  function end() {
    // A trailing `\r` was a complete line break after all. Per the SSE spec, an event that was
    // not closed by a blank line before the body ended is dropped.
    const events = buffer === '\r' ? push('\n') : [];
    buffer = '';
    dataLines = [];
    hasData = false;
    return events;
  }

  return { push, end };
}

/** Parses one event's data into a UI message stream part (an object with a string `type`). */
export function parsePart(data) {
  let part;
  try {
    part = JSON.parse(data);
  } catch {
    throw new StreamFormatError('The server sent an event that is not valid JSON.');
  }
  if (part === null || typeof part !== 'object' || typeof part.type !== 'string') {
    throw new StreamFormatError('The server sent an event without a part type.');
  }
  return part;
}

/**
 * Yields each part of the response's UI message stream, in order, and returns at `data: [DONE]`
 * or at the end of the body. A body that ends without `[DONE]` just ends: the caller decides
 * whether the parts it saw (a `finish` or an `error`) make a complete answer.
 * Aborting the fetch (AbortController) makes the pending read reject with an AbortError.
 * Leaving the loop early (break, return, throw) cancels the body, which closes the connection.
 */
export async function* readUIMessageStream(response) {
  if (!response.body) throw new StreamFormatError('The response has no body to read.');
  const reader = response.body.getReader();
  const decoder = new TextDecoder('utf-8');
  const parser = createEventParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      const events = done
        ? [...parser.push(decoder.decode()), ...parser.end()]
        : parser.push(decoder.decode(value, { stream: true }));
      for (const data of events) {
        if (data === '[DONE]') return;
        if (data !== '') yield parsePart(data);
      }
      if (done) return;
    }
  } finally {
    // Ends the body in every case: after [DONE] (nothing may follow it), when the consumer leaves
    // the loop early, or when a read or a part failed. On a body that already ended this is a no-op.
    await reader.cancel().catch(() => {});
  }
}
