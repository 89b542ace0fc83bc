import { describe, expect, it } from 'vitest';
import { createEventParser, readEvents, type EventParser } from '../src/sse.js';
import { TRICKY_DELTAS, TRICKY_TEXT, bodyOf, encoder, randomPieces, splitAt, uiStream } from './helpers.js';

// The demo page keeps its own copy of this parser (web/demo/sse.js: `make dev` needs no Node build).
// Both must pass the same tests.
const demoModule = '../../demo/sse.js';
const demo: { createEventParser(): EventParser } = await import(/* @vite-ignore */ demoModule as string);

/** Feeds the byte pieces through one streaming TextDecoder and the parser, as a network reader does. */
function parseBytes(makeParser: () => EventParser, pieces: Uint8Array[]): string[] {
  const parser = makeParser();
  const decoder = new TextDecoder('utf-8');
  const events: string[] = [];
  for (const piece of pieces) events.push(...parser.push(decoder.decode(piece, { stream: true })));
  events.push(...parser.push(decoder.decode()), ...parser.end());
  return events;
}

function textOf(events: string[]): string {
  let text = '';
  for (const data of events) {
    if (data === '[DONE]') break;
    const part = JSON.parse(data) as { type: string; delta?: string };
    if (part.type === 'text-delta') text += part.delta;
  }
  return text;
}

describe.each([
  ['web/client src/sse.ts', createEventParser],
  ['web/demo sse.js', () => demo.createEventParser()],
])('%s', (_, makeParser) => {
  const body = encoder.encode(uiStream());
  const whole = parseBytes(makeParser, [body]);

  it('reads a whole stream: every event, [DONE] last, the exact text', () => {
    expect(whole.at(-1)).toBe('[DONE]');
    expect(whole).toHaveLength(TRICKY_DELTAS.length + 8);
    expect(textOf(whole)).toBe(TRICKY_TEXT);
  });

  it('gives the same events when the body is split in two at every byte boundary', () => {
    for (let cut = 1; cut < body.length; cut++) {
      expect(parseBytes(makeParser, splitAt(body, [cut])), `cut at byte ${cut}`).toEqual(whole);
    }
  });

  it('gives the same events when the body arrives one byte per read', () => {
    expect(parseBytes(makeParser, splitAt(body, Array.from({ length: body.length - 1 }, (_, i) => i + 1)))).toEqual(whole);
  });

  it('rebuilds 50 of 50 streams under random 1-7 byte chunking', () => {
    for (let seed = 1; seed <= 50; seed++) {
      expect(textOf(parseBytes(makeParser, randomPieces(body, seed))), `seed ${seed}`).toBe(TRICKY_TEXT);
    }
  });

  it('keeps a Korean syllable and an emoji whole when their bytes are split across reads', () => {
    const korean = encoder.encode(`data: ${JSON.stringify({ type: 'text-delta', id: 't', delta: '한국어 🙂' })}\n\n`);
    const start = korean.indexOf(0xed); // first byte of 한 (U+D55C: ED 95 9C)
    for (const cut of [start + 1, start + 2, korean.length - 5, korean.length - 4]) {
      const events = parseBytes(makeParser, splitAt(korean, [cut]));
      expect(JSON.parse(events[0] ?? '{}').delta).toBe('한국어 🙂');
    }
  });

  it('accepts \\r\\n and \\r line ends, also with a \\r\\n pair split across reads', () => {
    for (const end of ['\r\n', '\r']) {
      const bytes = encoder.encode(uiStream(['a', '\n가'], null, end));
      for (let cut = 1; cut < bytes.length; cut++) {
        expect(textOf(parseBytes(makeParser, splitAt(bytes, [cut]))), `${JSON.stringify(end)} cut ${cut}`).toBe('a\n가');
      }
    }
  });

  it('joins data lines, ignores comments and other fields, and drops an unterminated last event', () => {
    const events = parseBytes(makeParser, [encoder.encode(': keep-alive\nevent: x\nid: 7\ndata: one\ndata:two\n\ndata: cut')]);
    expect(events).toEqual(['one\ntwo']);
  });

  it('treats [DONE] as the end only when it is a whole event', () => {
    const events = parseBytes(makeParser, [encoder.encode('data: {"type":"text-delta","delta":"data: [DONE]"}\n\ndata: [DONE]\n\n')]);
    expect(events).toEqual(['{"type":"text-delta","delta":"data: [DONE]"}', '[DONE]']);
  });
});

describe('readEvents', () => {
  it('stops at [DONE] and cancels the rest of the body', async () => {
    const bytes = encoder.encode('data: {"type":"start"}\n\ndata: [DONE]\n\ndata: {"type":"late"}\n\n');
    const body = bodyOf(splitAt(bytes, [5, 30]));
    const seen: string[] = [];
    for await (const data of readEvents(body.stream)) seen.push(data);
    expect(seen).toEqual(['{"type":"start"}']);
    expect(body.cancelled()).toBe(true);
  });

  it('cancels the body when the consumer leaves early', async () => {
    const body = bodyOf([encoder.encode(uiStream())]);
    for await (const data of readEvents(body.stream)) {
      expect(data).toContain('start');
      break;
    }
    expect(body.cancelled()).toBe(true);
  });
});
