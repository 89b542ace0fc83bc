import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { STREAM_PART_SCHEMAS } from '../src/types.js';

describe('StreamPart', () => {
  it('names the part schemas the OpenAPI document gives for a stream event, and no others', () => {
    const document = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8'));
    const data = document.components.schemas.StreamEvent.properties.data.anyOf;
    const parts = data.find((choice: { contentSchema?: unknown }) => choice.contentSchema).contentSchema.oneOf;
    const named = parts.map((part: { $ref: string }) => part.$ref.split('/').pop());
    expect([...STREAM_PART_SCHEMAS].sort()).toEqual([...named].sort());
  });
});
