/** A small Server-Sent Events reader for the AI SDK UI message stream (`data: <json>` events, then `data: [DONE]`).
 *
 * It decodes bytes with one streaming `TextDecoder` (a Korean syllable or an emoji split across two reads stays
 * whole), buffers lines until an event is complete (an event split across reads is kept), accepts `\n`, `\r\n`
 * and `\r` line ends (also a `\r\n` split across reads), joins several `data:` lines with `\n`, and treats
 * `[DONE]` as the end only when it is a whole event. */

import { AirelayError } from './errors.js';

export interface EventParser {
  /** Takes decoded text, in any chunking; returns the `data` of every event it completed. */
  push(text: string): string[];
  /** Call once when the body ended. An event not closed by a blank line is dropped, as the SSE spec says. */
  end(): string[];
}

export function createEventParser(): EventParser {
  let buffer = '';
  let dataLines: string[] = [];
  let hasData = false;

  function takeLine(line: string, events: string[]): void {
    if (line === '') {
      if (hasData) events.push(dataLines.join('\n'));
      dataLines = [];
      hasData = false;
      return;
    }
    if (line.startsWith(':')) return; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== 'data') return; // event:, id:, retry: are not used by the UI message stream
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    dataLines.push(value);
    hasData = true;
  }

  function push(text: string): string[] {
    buffer += text;
    const events: string[] = [];
    let start = 0;
    while (start < buffer.length) {
      const cr = buffer.indexOf('\r', start);
      const lf = buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        if (cr === buffer.length - 1) break; // may be the first half of `\r\n`: wait for the next read
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

  function end(): string[] {
    const events = buffer === '\r' ? push('\n') : [];
    buffer = '';
    dataLines = [];
    hasData = false;
    return events;
  }

  return { push, end };
}

/** Yields each event's data from a byte stream, up to `[DONE]` (not included) or the end of the body.
 * Leaving early (break, return, throw) cancels the body, which closes the connection. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const reader = body.getReader();
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
