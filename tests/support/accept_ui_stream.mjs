// Replays recorded UI message stream bodies through the real `ai` package's client path: DefaultChatTransport
// (SSE parsing and validation of every chunk against ai's own schemas) and readUIMessageStream (the message
// useChat builds, with its ordering checks). Prints one JSON line: {name: {errors, parts}} per body.
// `node tests/support/accept_ui_stream.mjs DIR` — AI_MODULE names the package to test (default `ai`, as installed).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ai = await import(process.env.AI_MODULE ?? 'ai');
const dir = process.argv[2];
const seen = {};
for (const file of readdirSync(dir).filter((f) => f.endsWith('.sse')).sort()) {
  const body = readFileSync(join(dir, file));
  const transport = new ai.DefaultChatTransport({
    api: 'http://127.0.0.1/api/chat/stream',
    fetch: async () => new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } }),
  });
  const errors = [];
  let message;
  try {
    const stream = await transport.sendMessages({
      chatId: 'c1', messages: [], trigger: 'submit-message', messageId: undefined, abortSignal: undefined,
    });
    for await (const snapshot of ai.readUIMessageStream({ stream, onError: (e) => errors.push(String(e?.message ?? e)) })) {
      message = snapshot;
    }
  } catch (e) {
    errors.push(String(e?.message ?? e));
  }
  const parts = (message?.parts ?? []).map((p) => ({ type: p.type, state: p.state, providerExecuted: p.providerExecuted }));
  seen[file.replace(/\.sse$/, '')] = { errors, parts, metadata: message?.metadata ?? null };
}
console.log(JSON.stringify(seen));
