import { requestJson, type CallOptions } from './http.js';
import type { UsageReport } from './types.js';

export interface UsageQuery {
  /** The last N days, today included (default 7 on the server). */
  days?: number;
  by?: 'day' | 'model' | 'identity';
  /** First and last day (UTC, YYYY-MM-DD), instead of `days`. */
  from?: string;
  to?: string;
}

/** `GET /api/usage`: calls, tokens and cost per day, model or caller, with today's budget. */
export function usage(query: UsageQuery = {}, options: CallOptions = {}): Promise<UsageReport> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const search = params.size > 0 ? `?${params}` : '';
  return requestJson<UsageReport>(options, `/api/usage${search}`, { method: 'GET' });
}
