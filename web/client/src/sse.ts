/** Reading the AI SDK UI message stream (`data: <json>` events, then `data: [DONE]`) with eventsource-parser, the
 * Server-Sent Events parser the AI SDK itself uses. One streaming `TextDecoder` keeps a Korean syllable or an emoji
 * split across two reads whole; the parser keeps an event split across reads, accepts every line end, joins
 * `data:` lines, and drops an event the body cut off before its blank line, as the SSE spec says. */

import { createParser } from 'eventsource-parser';
import { AirelayError } from './errors.js';

/** Yields each event's data from a byte stream, up to `[DONE]` (not included) or the end of the body.
 * `[DONE]` ends the stream only as a whole event. Leaving early (break, return, throw) cancels the body, which
 * closes the connection. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  const events: string[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event.data) });
  let endsInCr = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      const text = done ? decoder.decode() : decoder.decode(value, { stream: true });
      if (text !== '') {
        parser.feed(text); // never an empty first feed: the parser looks for a BOM in the first one
        endsInCr = text.endsWith('\r');
      }
      // The parser holds a last `\r` back in case `\n` follows; at the end of the body it was a whole line end.
      if (done && endsInCr) parser.feed('\n');
      for (const data of events.splice(0)) {
        if (data === '[DONE]') return;
        if (data !== '') yield data;
      }
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** One event's data as a part: an object with a string `type`; anything else is an `invalid_stream` error. */
export function parsePart<T extends { type: string }>(data: string, status = 200): T {
  let part: unknown;
  try {
    part = JSON.parse(data);
  } catch (cause) {
    throw invalidStream('The server sent an event that is not valid JSON.', status, cause);
  }
  if (typeof part !== 'object' || part === null || typeof (part as { type?: unknown }).type !== 'string') {
    throw invalidStream('The server sent an event without a part type.', status);
  }
  return part as T;
}

function invalidStream(message: string, status: number, cause?: unknown): AirelayError {
  return new AirelayError({ status, code: 'invalid_stream', message, cause });
}
