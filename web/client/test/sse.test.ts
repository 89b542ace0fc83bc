import { describe, expect, it } from 'vitest';
import { readEvents } from '../src/sse.js';
import { TRICKY_DELTAS, TRICKY_TEXT, bodyOf, encoder, randomPieces, splitAt, uiStream } from './helpers.js';

/** Every event's data that readEvents yields from a body arriving in these pieces, one piece per read. */
async function eventsOf(pieces: Uint8Array[]): Promise<string[]> {
  const events: string[] = [];
  for await (const data of readEvents(bodyOf(pieces).stream)) events.push(data);
  return events;
}

function textOf(events: string[]): string {
  let text = '';
  for (const data of events) {
    const part = JSON.parse(data) as { type: string; delta?: string };
    if (part.type === 'text-delta') text += part.delta;
  }
  return text;
}

describe('readEvents', () => {
  const body = encoder.encode(uiStream());

  it('reads a whole stream: every event up to [DONE], the exact text', async () => {
    const whole = await eventsOf([body]);
    expect(whole).toHaveLength(TRICKY_DELTAS.length + 7);
    expect(JSON.parse(whole.at(-1)!)).toEqual({ type: 'finish', finishReason: 'stop' });
    expect(textOf(whole)).toBe(TRICKY_TEXT);
  });

  it('gives the same events when the body is split in two at every byte boundary', async () => {
    const whole = await eventsOf([body]);
    for (let cut = 1; cut < body.length; cut++) {
      expect(await eventsOf(splitAt(body, [cut])), `cut at byte ${cut}`).toEqual(whole);
    }
  });

  it('gives the same events when the body arrives one byte per read', async () => {
    const bytes = splitAt(body, Array.from({ length: body.length - 1 }, (_, i) => i + 1));
    expect(await eventsOf(bytes)).toEqual(await eventsOf([body]));
  });

  it('rebuilds 50 of 50 streams under random 1-7 byte chunking', async () => {
    for (let seed = 1; seed <= 50; seed++) {
      expect(textOf(await eventsOf(randomPieces(body, seed))), `seed ${seed}`).toBe(TRICKY_TEXT);
    }
  });

  it('keeps a Korean syllable and an emoji whole when their bytes are split across reads', async () => {
    const korean = encoder.encode(`data: ${JSON.stringify({ type: 'text-delta', id: 't', delta: '한국어 🙂' })}\n\n`);
    const start = korean.indexOf(0xed); // first byte of 한 (U+D55C: ED 95 9C)
    for (const cut of [start + 1, start + 2, korean.length - 5, korean.length - 4]) {
      const events = await eventsOf(splitAt(korean, [cut]));
      expect(JSON.parse(events[0] ?? '{}').delta, `cut at byte ${cut}`).toBe('한국어 🙂');
    }
  });

  it('accepts \\r\\n and \\r line ends, also with a \\r\\n pair split across reads', async () => {
    for (const end of ['\r\n', '\r']) {
      const bytes = encoder.encode(uiStream(['a', '\n가'], null, end));
      for (let cut = 1; cut < bytes.length; cut++) {
        const events = await eventsOf(splitAt(bytes, [cut]));
        expect(textOf(events), `${JSON.stringify(end)} cut ${cut}`).toBe('a\n가');
        expect(JSON.parse(events.at(-1)!).type, `${JSON.stringify(end)} cut ${cut}`).toBe('finish');
      }
    }
  });

  it('completes the last event when the body ends in a lone \\r, a whole line end there', async () => {
    expect(await eventsOf([encoder.encode('data: one\r\rdata: two\r\r')])).toEqual(['one', 'two']);
    expect(await eventsOf([encoder.encode('data: one\r\rdata: two\r'), encoder.encode('\r')])).toEqual(['one', 'two']);
  });

  it('joins data lines, ignores comments and other fields, and drops an unterminated last event', async () => {
    const events = await eventsOf([encoder.encode(': keep-alive\nevent: x\nid: 7\nretry: 5\ndata: one\ndata:two\n\ndata: cut')]);
    expect(events).toEqual(['one\ntwo']);
    expect(await eventsOf([encoder.encode('data: one\n\ndata: cut\n')])).toEqual(['one']);
  });

  it('treats [DONE] as the end only when it is a whole event', async () => {
    const bytes = encoder.encode('data: {"type":"text-delta","delta":"data: [DONE]"}\n\ndata: [DONE]\n\ndata: {"type":"late"}\n\n');
    expect(await eventsOf([bytes])).toEqual(['{"type":"text-delta","delta":"data: [DONE]"}']);
  });

  it('stops at [DONE] and cancels the rest of the body', async () => {
    const bytes = encoder.encode('data: {"type":"start"}\n\ndata: [DONE]\n\ndata: {"type":"late"}\n\n');
    const tracked = bodyOf(splitAt(bytes, [5, 30]));
    const seen: string[] = [];
    for await (const data of readEvents(tracked.stream)) seen.push(data);
    expect(seen).toEqual(['{"type":"start"}']);
    expect(tracked.cancelled()).toBe(true);
  });

  it('cancels the body when the consumer leaves early', async () => {
    const tracked = bodyOf([encoder.encode(uiStream())]);
    for await (const data of readEvents(tracked.stream)) {
      expect(data).toContain('start');
      break;
    }
    expect(tracked.cancelled()).toBe(true);
  });

  it('rejects with the AbortError when the request is aborted mid-body', async () => {
    const controller = new AbortController();
    const tracked = bodyOf([encoder.encode('data: {"type":"start"}\n\n')], { hangAfter: 1, signal: controller.signal });
    const seen: string[] = [];
    await expect((async () => {
      for await (const data of readEvents(tracked.stream)) {
        seen.push(data);
        controller.abort();
      }
    })()).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toEqual(['{"type":"start"}']);
  });
});
