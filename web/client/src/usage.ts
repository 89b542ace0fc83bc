import { requestJson, type CallOptions } from './http.js';
import type { UsageQuery, UsageReport } from './types.js';

/** `GET /api/usage`: calls, tokens and cost per day, model or caller, with today's budget. */
export function usage(query: UsageQuery = {}, options: CallOptions = {}): Promise<UsageReport> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const search = params.size > 0 ? `?${params}` : '';
  return requestJson<UsageReport>(options, `/api/usage${search}`, { method: 'GET' });
}
