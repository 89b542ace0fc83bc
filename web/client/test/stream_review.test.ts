/** What a frontend developer would hit at the edges: Stop with parts already read, a failure the server described, a body cut after the 200, a null query value, the tool parts typed. */

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { streamChat, type StreamUpdate } from '../src/stream.js';
import { usage } from '../src/usage.js';
import { bodyOf, encoder, fakeFetch, jsonResponse, sseResponse, uiStream } from './helpers.js';

const BASE = 'http://api.test';
const here = dirname(fileURLToPath(import.meta.url));

/** A fetch whose body arrives in these pieces; an abort errors the body, as fetch does. */
function serve(pieces: Uint8Array[]) {
  return fakeFetch((_, init) => sseResponse(bodyOf(pieces, { signal: init.signal ?? null }).stream));
}

describe('streamChat and usage: stop()', () => {
  it('stop() ends the answer at once, even when later parts arrived in the same read', async () => {
    // GIVEN a whole answer that arrives in one network read (a fast server, or a proxy that coalesces writes)
    const whole = encoder.encode(uiStream(['Hello', ' there', ' and', ' more']));
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: serve([whole]).fetch });
    // WHEN the user presses Stop after the first word
    const after: StreamUpdate[] = [];
    let stopped = false;
    for await (const update of stream) {
      if (stopped) after.push(update);
      if (update.text === 'Hello' && !stopped) {
        stream.stop();
        stopped = true;
      }
    }
    // THEN nothing more is yielded, the text is what was shown, and the result says it was stopped
    const result = await stream.done();
    expect({ yieldedAfterStop: after.map((u) => u.part.type), text: result.text, stopped: result.stopped })
      .toEqual({ yieldedAfterStop: [], text: 'Hello', stopped: true });
  });
});

describe('streamChat and usage: a failure after the start', () => {
  it('carries the code and retryAfter of the data-error part the server sends before the error part', async () => {
    // GIVEN step 2 refused by the budget: data-error {429, budget_exceeded, retryAfter}, data-usage, error (no finish)
    const failed = encoder.encode(uiStream(['Let me look.'], [
      { type: 'finish-step' },
      { type: 'data-error', data: { status: 429, code: 'budget_exceeded', retryAfter: 3600 }, transient: true },
      { type: 'data-usage', data: { model: 'm', inputTokens: 10, outputTokens: 3, cachedTokens: 0, estimated: false, costUsd: 0.001, costKrw: 1.4, steps: 1 }, transient: true },
      { type: 'error', errorText: 'The daily budget is spent.' },
    ]));
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: serve([failed]).fetch });
    // WHEN the answer is read to its end
    const error = await stream.done().then(() => null, (e: unknown) => e);
    // THEN the error says what the server said: budget_exceeded, retry in an hour (not a bare stream_error)
    expect(error).toMatchObject({ name: 'AirelayError', message: 'The daily budget is spent.', code: 'budget_exceeded', retryAfter: 3600 });
  });
});

describe('streamChat and usage: a connection cut mid-answer', () => {
  it('reports a body that breaks after the 200 as a cut stream (status 200), not "Could not reach the server"', async () => {
    // GIVEN a 200 whose body breaks after the first parts (undici and browsers reject the read with a TypeError)
    const first = encoder.encode(uiStream(['Hello'], []));
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(first);
        } else {
          controller.error(new TypeError('terminated'));
        }
      },
    }, { highWaterMark: 0 });
    const fake = fakeFetch(() => sseResponse(body));
    // WHEN the answer is read
    const stream = streamChat({ message: 'x' }, { baseUrl: BASE, fetch: fake.fetch });
    const error = await stream.done().then(() => null, (e: unknown) => e);
    // THEN the server was reached (status 200, text shown): the error is the documented cut-stream one
    expect(stream.text).toBe('Hello');
    expect(error).toMatchObject({ name: 'AirelayError', status: 200, code: 'stream_incomplete' });
  });
});

describe('streamChat and usage: usage() query string', () => {
  it('leaves out a from/to of null, which its generated type allows, instead of sending "null"', async () => {
    const fake = fakeFetch(() => jsonResponse({ rows: [] }));
    // UsageQuery (from the OpenAPI document) types `from` and `to` as `string | null`
    await usage({ days: 7, by: 'day', from: null, to: null }, { baseUrl: BASE, fetch: fake.fetch });
    // the server reads `from=null` as a day and answers 422 ("a day looks like YYYY-MM-DD")
    expect(fake.calls[0]!.url).toBe(`${BASE}/api/usage?days=7&by=day`);
  });
});

describe('streamChat and usage: stream part types', () => {
  it('StreamPart includes the parts the OpenAPI document says the stream sends (tools, data-error)', () => {
    // control: the harness type-checks a correct use of the parts StreamPart has
    expect(diagnosticsOf([
      "import type { StreamPart } from '../src/types.js';",
      "export const f = (part: StreamPart): string => (part.type === 'text-delta' ? part.delta : '');",
    ])).toEqual([]);
    // A frontend written against the documented stream (docs/tools.md, openapi_stream.py) must type-check.
    expect(diagnosticsOf([
      "import type { StreamPart } from '../src/types.js';",
      'export function describePart(part: StreamPart): string {',
      '  switch (part.type) {',
      "    case 'tool-input-start': return part.toolName;",
      "    case 'tool-input-available': return `${part.toolName} ${JSON.stringify(part.input)}`;",
      "    case 'tool-output-available': return `${part.toolCallId} ${JSON.stringify(part.output)}`;",
      "    case 'tool-output-error': return part.errorText;",
      "    case 'data-error': return `${part.data.status} ${part.data.code}`;",
      "    default: return '';",
      '  }',
      '}',
    ])).toEqual([]);
  }, 60_000);
});

/** The type errors of a module beside this test, under the package's own tsconfig. */
function diagnosticsOf(lines: string[]): string[] {
  const probe = join(here, '__parts_probe.ts');
  const source = lines.join('\n');
  const config = ts.readConfigFile(join(here, '..', 'tsconfig.json'), ts.sys.readFile).config;
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, join(here, '..'));
  const options = { ...parsed.options, noEmit: true, rootDir: join(here, '..'), skipLibCheck: true };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => name === probe || fileExists.call(host, name);
  host.readFile = (name) => (name === probe ? source : readFile.call(host, name));
  host.getSourceFile = (name, language, ...rest) =>
    name === probe ? ts.createSourceFile(name, source, language, true) : getSourceFile.call(host, name, language, ...rest);
  const program = ts.createProgram([probe], options, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(probe))
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]!);
}
