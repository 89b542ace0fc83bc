import { postJson, requestJson, type CallOptions } from './http.js';
import type { ClassifyRequest, ClassifyResult } from './types.js';

/** A `Blob`/`File` (sent as a multipart upload), an `http(s)` URL (fetched by the server), a `data:` URL, or
 * `{base64}`. */
export type ImageInput = Blob | string | { base64: string };

/** `POST /api/image/classify` (a URL or base64) or `/api/image/classify/upload` (a file): the top ImageNet labels
 * with scores. */
export function classifyImage(image: ImageInput, options: CallOptions = {}): Promise<ClassifyResult> {
  const path = '/api/image/classify';
  if (typeof image === 'string') {
    const body: ClassifyRequest = image.startsWith('data:') ? { image_base64: image } : { image_url: image };
    return postJson<ClassifyResult>(options, path, body);
  }
  if (isBlob(image)) {
    const form = new FormData();
    const name = 'name' in image && typeof image.name === 'string' && image.name !== '' ? image.name : 'image';
    form.append('image', image, name);
    return requestJson<ClassifyResult>(options, `${path}/upload`, { method: 'POST', body: form });
  }
  const body: ClassifyRequest = { image_base64: image.base64 };
  return postJson<ClassifyResult>(options, path, body);
}

function isBlob(value: unknown): value is Blob {
  return typeof Blob !== 'undefined' && value instanceof Blob;
}
