import { requestJson, type CallOptions } from './http.js';
import type { UsageQuery, UsageReport } from './types.js';

/** `GET /api/usage`: calls, tokens and cost per day, model or caller, with today's budget. */
export function usage(query: UsageQuery = {}, options: CallOptions = {}): Promise<UsageReport> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) params.set(name, String(value));
  }
  const encoded = params.toString(); // not params.size: browsers before 2023 lack it
  const search = encoded ? `?${encoded}` : '';
  return requestJson<UsageReport>(options, `/api/usage${search}`, { method: 'GET' });
}
