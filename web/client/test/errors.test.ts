import { describe, expect, it } from 'vitest';
import { AirelayError, isAirelayError, parseRetryAfter } from '../src/errors.js';

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-11-26T00:00:00Z');
    expect(parseRetryAfter('4127', now)).toBe(4127);
    expect(parseRetryAfter(' 1.2 ', now)).toBe(2);
    expect(parseRetryAfter('Thu, 26 Nov 2026 00:01:00 GMT', now)).toBe(60);
    expect(parseRetryAfter('Wed, 25 Nov 2026 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe('AirelayError', () => {
  it('is an Error with status, code and retryAfter', () => {
    const error = new AirelayError({ status: 429, code: 'rate_limited', message: 'Slow down.', retryAfter: 3 });
    expect(error).toBeInstanceOf(Error);
    expect(isAirelayError(error)).toBe(true);
    expect(error).toMatchObject({ name: 'AirelayError', status: 429, code: 'rate_limited', message: 'Slow down.', retryAfter: 3, limit: null });
  });
});
