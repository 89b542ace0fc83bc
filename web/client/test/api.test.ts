import { describe, expect, it } from 'vitest';
import { chat, classifyImage, createClient, faq, sentiment, usage } from '../src/index.js';
import { fakeFetch, jsonResponse, slowErrorResponse } from './helpers.js';

const BASE = 'http://api.test';

function json(init: RequestInit): unknown {
  return JSON.parse(init.body as string);
}

describe('JSON endpoints', () => {
  it('chat posts the body to /api/chat once and returns the answer', async () => {
    const answer = { response: 'Hi', tokens_used: 3, usage: { prompt_tokens: 2, completion_tokens: 1, cached_tokens: 0, estimated: false }, model: 'm', finish_reason: 'stop' };
    const fake = fakeFetch(() => jsonResponse(answer));
    expect(await chat({ message: 'Hello', conversation_history: [{ role: 'user', content: 'a' }] }, { baseUrl: BASE, fetch: fake.fetch })).toEqual(answer);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.url).toBe(`${BASE}/api/chat`);
    expect(json(fake.calls[0]!.init)).toEqual({ message: 'Hello', conversation_history: [{ role: 'user', content: 'a' }] });
  });

  it('chat does not retry a failed POST', async () => {
    const fake = fakeFetch(() => jsonResponse({ error: { code: 'provider_failed', message: 'The model provider failed.' } }, 502, { 'x-request-id': 'r1' }));
    await expect(chat({ message: 'x' }, { baseUrl: BASE, fetch: fake.fetch }))
      .rejects.toMatchObject({ status: 502, code: 'provider_failed', message: 'The model provider failed.', retryAfter: null, requestId: 'r1' });
    expect(fake.calls).toHaveLength(1);
  });

  it('an error body that is not JSON still gives a typed error', async () => {
    const fake = fakeFetch(() => new Response('<html>Bad gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } }));
    await expect(sentiment('x', { baseUrl: BASE, fetch: fake.fetch }))
      .rejects.toMatchObject({ status: 502, code: 'bad_response', message: 'The server answered with HTTP 502.' });
  });

  it('sentiment and faq post their fields', async () => {
    const fake = fakeFetch(() => jsonResponse({}));
    await sentiment('배송이 빨라요', { baseUrl: BASE, fetch: fake.fetch });
    await faq('배송비가 얼마예요?', { baseUrl: BASE, fetch: fake.fetch, topK: 3 });
    await faq('hello', { baseUrl: BASE, fetch: fake.fetch });
    expect(fake.calls.map((c) => [c.url, json(c.init)])).toEqual([
      [`${BASE}/api/sentiment`, { text: '배송이 빨라요' }],
      [`${BASE}/api/faq`, { question: '배송비가 얼마예요?', top_k: 3 }],
      [`${BASE}/api/faq`, { question: 'hello' }],
    ]);
  });

  it('usage builds the query string and uses GET', async () => {
    const fake = fakeFetch(() => jsonResponse({ rows: [] }));
    await usage({ days: 7, by: 'model' }, { baseUrl: BASE, fetch: fake.fetch });
    await usage({}, { fetch: fake.fetch });
    expect(fake.calls.map((c) => [c.url, c.init.method])).toEqual([
      [`${BASE}/api/usage?days=7&by=model`, 'GET'],
      ['/api/usage', 'GET'],
    ]);
  });

  it('usage keeps its query in a browser whose URLSearchParams has no size (before 2023)', async () => {
    const size = Object.getOwnPropertyDescriptor(URLSearchParams.prototype, 'size')!;
    delete (URLSearchParams.prototype as { size?: number }).size;
    try {
      const fake = fakeFetch(() => jsonResponse({ rows: [] }));
      await usage({ days: 1, by: 'kind' }, { baseUrl: BASE, fetch: fake.fetch });
      expect(fake.calls[0]!.url).toBe(`${BASE}/api/usage?days=1&by=kind`);
    } finally {
      Object.defineProperty(URLSearchParams.prototype, 'size', size);
    }
  });
});

describe('classifyImage', () => {
  it('uploads a Blob as multipart field `image`', async () => {
    const fake = fakeFetch(() => jsonResponse({ labels: [{ label: 'espresso', score: 0.9 }], model: 'local/efficientnet-lite0' }));
    const file = new File([new Uint8Array([0xff, 0xd8, 0xff])], 'coffee.jpg', { type: 'image/jpeg' });
    const result = await classifyImage(file, { baseUrl: BASE, fetch: fake.fetch });
    expect(result.labels[0]).toEqual({ label: 'espresso', score: 0.9 });
    const form = fake.calls[0]!.init.body as FormData;
    expect(form).toBeInstanceOf(FormData);
    expect((form.get('image') as File).name).toBe('coffee.jpg');
    expect(fake.calls[0]!.init.headers).not.toHaveProperty('content-type'); // fetch sets the multipart boundary
    expect(fake.calls[0]!.url).toBe(`${BASE}/api/image/classify/upload`);
  });

  it('sends an http(s) URL as image_url and a data: URL or {base64} as image_base64', async () => {
    const fake = fakeFetch(() => jsonResponse({ labels: [], model: 'm' }));
    await classifyImage('https://example.test/cat.jpg', { baseUrl: BASE, fetch: fake.fetch });
    await classifyImage('data:image/png;base64,AAAA', { baseUrl: BASE, fetch: fake.fetch });
    await classifyImage({ base64: 'BBBB' }, { baseUrl: BASE, fetch: fake.fetch });
    expect(fake.calls.map((c) => json(c.init))).toEqual([
      { image_url: 'https://example.test/cat.jpg' },
      { image_base64: 'data:image/png;base64,AAAA' },
      { image_base64: 'BBBB' },
    ]);
  });

  it('reports the server refusal of a URL', async () => {
    const fake = fakeFetch(() => jsonResponse({ error: { code: 'image_url_refused', message: 'That address is not allowed.' } }, 422));
    await expect(classifyImage('http://127.0.0.1/x.png', { baseUrl: BASE, fetch: fake.fetch }))
      .rejects.toMatchObject({ status: 422, code: 'image_url_refused' });
  });
});

describe('createClient', () => {
  it('binds the base URL, fetch and headers for every call', async () => {
    const fake = fakeFetch(() => jsonResponse({ labels: [], model: 'm' }));
    const client = createClient({ baseUrl: BASE, fetch: fake.fetch, headers: { 'x-api-key': 'k' } });
    await client.sentiment('good');
    await client.usage({ days: 1 });
    expect(fake.calls.map((c) => c.url)).toEqual([`${BASE}/api/sentiment`, `${BASE}/api/usage?days=1`]);
    expect(fake.calls.every((c) => (c.init.headers as Record<string, string>)['x-api-key'] === 'k')).toBe(true);
  });

  it('an aborted call rejects with the AbortError, not a network error', async () => {
    const controller = new AbortController();
    controller.abort();
    const fake = fakeFetch(() => jsonResponse({}));
    await expect(sentiment('x', { baseUrl: BASE, fetch: fake.fetch, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('a call aborted while its error body arrives rejects with the AbortError, not an HTTP error', async () => {
    const controller = new AbortController();
    const fake = fakeFetch((_, init) => {
      setTimeout(() => controller.abort(), 20);
      return slowErrorResponse(init);
    });
    // as fetch does, so `if (error.name === 'AbortError') return` works
    await expect(sentiment('x', { baseUrl: BASE, fetch: fake.fetch, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
