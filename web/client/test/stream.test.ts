import { describe, expect, it } from 'vitest';
import { AirelayError } from '../src/errors.js';
import { streamChat, type StreamUpdate } from '../src/stream.js';
import type { ChatStatus } from '../src/types.js';
import {
  TRICKY_DELTAS, TRICKY_TEXT, bodyOf, encoder, fakeFetch, jsonResponse, randomPieces, slowErrorResponse, splitAt,
  sseResponse, uiStream,
} from './helpers.js';

const BASE = 'http://api.test';
const body = encoder.encode(uiStream());

function serve(pieces: Uint8Array[], options: { hangAfter?: number } = {}) {
  let tracked: ReturnType<typeof bodyOf> | null = null;
  const fake = fakeFetch((_, init) => {
    tracked = bodyOf(pieces, { ...options, signal: init.signal ?? null });
    return sseResponse(tracked.stream);
  });
  return { ...fake, body: () => tracked! };
}

describe('streamChat', () => {
  it('posts the request once as JSON and assembles the exact text, usage and finish', async () => {
    const fake = serve([body]);
    const statuses: ChatStatus[] = [];
    const stream = streamChat({ message: '안녕', persona: 'assistant', max_tokens: 50 }, {
      baseUrl: `${BASE}/`, fetch: fake.fetch, headers: { 'x-api-key': 'k' }, onStatus: (s) => statuses.push(s),
    });
    expect(stream.status).toBe('submitted');
    const updates: StreamUpdate[] = [];
    for await (const update of stream) updates.push(update);

    expect(fake.calls).toHaveLength(1);
    const [{ url, init }] = fake.calls as [{ url: string; init: RequestInit }];
    expect(url).toBe(`${BASE}/api/chat/stream`);
    expect(init.method).toBe('POST');
    expect(init.headers).toMatchObject({ 'content-type': 'application/json', accept: 'text/event-stream', 'x-api-key': 'k' });
    expect(JSON.parse(init.body as string)).toEqual({ message: '안녕', persona: 'assistant', max_tokens: 50 });

    expect(statuses).toEqual(['streaming', 'ready']);
    expect(stream.status).toBe('ready');
    expect(stream.text).toBe(TRICKY_TEXT);
    expect(stream.finishReason).toBe('stop');
    expect(stream.messageId).toBe('msg_1');
    expect(stream.usage).toMatchObject({ inputTokens: 12, outputTokens: TRICKY_DELTAS.length, costUsd: 0.0000066 });
    const texts = updates.filter((u) => u.part.type === 'text-delta').map((u) => u.text);
    expect(texts).toHaveLength(TRICKY_DELTAS.length);
    expect(texts.at(0)).toBe('Hello');
    expect(texts.at(-1)).toBe(TRICKY_TEXT);
    expect(await stream.done()).toEqual({
      text: TRICKY_TEXT, finishReason: 'stop', usage: stream.usage, messageId: 'msg_1', stopped: false,
    });
  });

  it('rebuilds the exact text when the body is split at every byte boundary', async () => {
    for (let cut = 1; cut < body.length; cut++) {
      const result = await streamChat({ message: 'x' }, { baseUrl: BASE, fetch: serve(splitAt(body, [cut])).fetch }).done();
      expect(result.text, `cut at byte ${cut}`).toBe(TRICKY_TEXT);
    }
  });

  it('rebuilds the exact text under random 1-7 byte chunking (50 streams)', async () => {
    for (let seed = 1; seed <= 50; seed++) {
      const result = await streamChat({ message: 'x' }, { baseUrl: BASE, fetch: serve(randomPieces(body, seed)).fetch }).done();
      expect(result.text, `seed ${seed}`).toBe(TRICKY_TEXT);
    }
  });

  it('reports an error part as status error with the server message, after yielding the text so far', async () => {
    const failed = encoder.encode(uiStream(['Hel', 'lo'], [{ type: 'error', errorText: 'The model provider failed.' }]));
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: serve([failed]).fetch });
    const seen: string[] = [];
    const error = await (async () => {
      try {
        for await (const { part } of stream) seen.push(part.type);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(AirelayError);
    expect(error).toMatchObject({ status: 200, code: 'stream_error', message: 'The model provider failed.' });
    expect(seen.at(-1)).toBe('error');
    expect(stream.status).toBe('error');
    expect(stream.text).toBe('Hello');
    await expect(stream.done()).rejects.toBe(error);
  });

  it('treats a stream that ends without a finish as incomplete, never as a clean end', async () => {
    const cut = encoder.encode(uiStream(['partial'], []));
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: serve([cut]).fetch });
    await expect(stream.done()).rejects.toMatchObject({ code: 'stream_incomplete' });
    expect(stream.status).toBe('error');
    expect(stream.text).toBe('partial');
  });

  it('turns a 429 into a typed error with retryAfter, and does not retry it', async () => {
    const fake = fakeFetch(() => jsonResponse({ error: { code: 'rate_limited', message: 'Too many requests.' } }, 429, { 'retry-after': '7' }));
    const statuses: ChatStatus[] = [];
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: fake.fetch, onStatus: (s) => statuses.push(s) });
    await expect(stream.done()).rejects.toMatchObject({ name: 'AirelayError', status: 429, code: 'rate_limited', retryAfter: 7, message: 'Too many requests.' });
    expect(statuses).toEqual(['error']);
    expect(fake.calls).toHaveLength(1);
  });

  it('carries which budget ran out, and limit and used of the caller\'s own', async () => {
    const fake = fakeFetch(() => jsonResponse({ error: { code: 'budget_exceeded', message: 'Over budget.', budget: 'caller', limit: 1, used: 0.9993 } }, 429, { 'retry-after': '4127' }));
    await expect(streamChat({ message: 'x' }, { baseUrl: BASE, fetch: fake.fetch }).done())
      .rejects.toMatchObject({ code: 'budget_exceeded', budget: 'caller', limit: 1, used: 0.9993, retryAfter: 4127 });
    const global = fakeFetch(() => jsonResponse({ error: { code: 'budget_exceeded', message: 'Over budget.', budget: 'global' } }, 429));
    await expect(streamChat({ message: 'x' }, { baseUrl: BASE, fetch: global.fetch }).done())
      .rejects.toMatchObject({ code: 'budget_exceeded', budget: 'global', limit: null, used: null });
  });

  it('carries which per-minute limit was reached, with its limit and what is used', async () => {
    const fake = fakeFetch(() => jsonResponse({ error: { code: 'rate_limit_exceeded', message: 'Too many.', rate: 'tokens_per_minute', limit: 20000, used: 19800 } }, 429, { 'retry-after': '37' }));
    await expect(streamChat({ message: 'x' }, { baseUrl: BASE, fetch: fake.fetch }).done())
      .rejects.toMatchObject({ code: 'rate_limit_exceeded', rate: 'tokens_per_minute', budget: null, limit: 20000, used: 19800, retryAfter: 37 });
    expect(fake.calls).toHaveLength(1);
  });

  it('does not retry a 503 or a network failure either', async () => {
    const down = fakeFetch(() => jsonResponse({ error: { code: 'provider_unavailable', message: 'Unavailable.' } }, 503));
    await expect(streamChat({ message: 'x' }, { baseUrl: BASE, fetch: down.fetch }).done()).rejects.toMatchObject({ status: 503 });
    expect(down.calls).toHaveLength(1);
    const offline = fakeFetch(() => { throw new TypeError('fetch failed'); });
    await expect(streamChat({ message: 'x' }, { baseUrl: BASE, fetch: offline.fetch }).done())
      .rejects.toMatchObject({ status: 0, code: 'network_error' });
    expect(offline.calls).toHaveLength(1);
  });

  it('refuses a 200 that is not an event stream', async () => {
    const fake = fakeFetch(() => new Response('<html>proxy</html>', { headers: { 'content-type': 'text/html' } }));
    await expect(streamChat({ message: 'x' }, { baseUrl: BASE, fetch: fake.fetch }).done()).rejects.toMatchObject({ code: 'bad_response' });
  });

  it('stop() ends the stream, keeps the text, closes the connection and leaves status ready', async () => {
    const pieces = splitAt(body, [body.indexOf(encoder.encode('안')[0]!)]); // first piece ends before 안녕하세요
    const slow = serve(pieces, { hangAfter: 1 });
    const statuses: ChatStatus[] = [];
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: slow.fetch, onStatus: (s) => statuses.push(s) });
    for await (const { text } of stream) {
      if (text === 'Hello there!\n') stream.stop();
    }
    expect(stream.status).toBe('ready');
    expect(statuses).toEqual(['streaming', 'ready']);
    expect(stream.text).toBe('Hello there!\n');
    expect(stream.stopped).toBe(true);
    expect((slow.calls[0]!.init.signal as AbortSignal).aborted).toBe(true);
    expect((await stream.done()).stopped).toBe(true);
  });

  it('stops when the caller aborts its own signal, also before the response arrived', async () => {
    const controller = new AbortController();
    const fake = fakeFetch((_, init) => new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))));
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: fake.fetch, signal: controller.signal });
    controller.abort();
    const result = await stream.done();
    expect(result).toMatchObject({ stopped: true, text: '' });
    expect(stream.status).toBe('ready');
  });

  it('stop() while the error answer arrives ends the stream as stopped, not as a failure', async () => {
    const fake = fakeFetch((_, init) => slowErrorResponse(init));
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: fake.fetch });
    setTimeout(() => stream.stop(), 20);
    const outcome = await stream.done().then((result) => result, (error: unknown) => error);
    expect({ outcome, status: stream.status }).toMatchObject({ outcome: { stopped: true }, status: 'ready' });
  });

  it('lets go of the caller\'s signal once the answer ends (a page-lifetime signal shared by many answers)', async () => {
    const { signal } = new AbortController();
    let attached = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((type: string, listener: EventListener, options?: AddEventListenerOptions) => {
      if (type === 'abort') attached += 1;
      add(type, listener, options);
    }) as typeof signal.addEventListener;
    signal.removeEventListener = ((type: string, listener: EventListener, options?: EventListenerOptions) => {
      if (type === 'abort') attached -= 1;
      remove(type, listener, options);
    }) as typeof signal.removeEventListener;
    const fake = fakeFetch(() => sseResponse(bodyOf([encoder.encode(uiStream(['Hello']))]).stream));
    for (let i = 0; i < 50; i += 1) {
      const result = await streamChat({ message: 'x' }, { baseUrl: BASE, fetch: fake.fetch, signal }).done();
      expect(result.text).toBe('Hello');
    }
    expect(attached).toBe(0); // each listener would keep its whole ChatStream alive for as long as the signal lives
  });

  it('leaving the loop early cancels the request', async () => {
    const slow = serve([body], { hangAfter: 1 });
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: slow.fetch });
    for await (const { part } of stream) {
      if (part.type === 'text-delta') break;
    }
    expect(stream.status).toBe('ready');
    expect(stream.stopped).toBe(true);
    expect((slow.calls[0]!.init.signal as AbortSignal).aborted).toBe(true);
  });

  it('can be read only once', async () => {
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: serve([body]).fetch });
    await stream.done();
    expect(() => stream[Symbol.asyncIterator]()).toThrow(/only once/);
  });
});
