// Talking to this site's API through the airelay client (web/client, bundled into build/ by `make dev`): one request
// per action, never retried by itself, and every failure an AirelayError with the server's safe message.
import { createClient, isAirelayError } from './build/airelay-client.js';

export { AirelayError, isAirelayError } from './build/airelay-client.js';

// This page's own origin; `no-store`, so the dashboard never shows a report the browser kept.
export const api = createClient({ fetch: (input, init) => fetch(input, { ...init, cache: 'no-store' }) });

/** "HTTP 429 · rate_limited", for the small print under an error's message; null when no HTTP error came back. */
export function errorDetail(error) {
  return isAirelayError(error) && error.status >= 400 ? `HTTP ${error.status} · ${error.code}` : null;
}

/** Tells the cost dashboard that a call was made (it refreshes shortly after). */
export function announceUsage() {
  document.dispatchEvent(new CustomEvent('airelay:usage'));
}
