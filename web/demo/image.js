// Image panel: POST /api/image/classify/upload (multipart, field `image`) or /api/image/classify {image_url} → {labels, model}.
// A chosen file over MAX_BYTES or MAX_SIDE is scaled down here first and sent as a JPEG (the classifier reads 224 px).
import { AirelayError, api } from './api.js';
import { integer } from './format.js';
import { scoreItem } from './scores.js';
import { createTask } from './task.js';

// IMAGE_MAX_BYTES's default: what Lambda's 6 MB request payload holds of an upload, base64-encoded. A larger upload
// is refused before the function runs (API Gateway's 500), so the page never sends one.
const MAX_BYTES = 4_400_000;
const MAX_SIDE = 2048;

const kilobytes = (blob) => `${integer.format(Math.ceil(blob.size / 1024))} KB`;
const refused = (message) => new AirelayError({ status: 0, code: 'invalid_input', message });

/** The file itself when it is small enough, else a JPEG of it at most MAX_SIDE px long (smaller if that is still too large). */
async function fitForUpload(file) {
  const bitmap = await createImageBitmap(file).catch(() => {
    throw refused(`${file.name} could not be read as an image: choose a JPEG, PNG, WebP, GIF or BMP file.`);
  });
  try {
    const long = Math.max(bitmap.width, bitmap.height);
    if (file.size <= MAX_BYTES && long <= MAX_SIDE) return file;
    for (const side of [MAX_SIDE, 1024, 512].map((most) => Math.min(most, long))) {
      const canvas = new OffscreenCanvas(
        Math.max(1, Math.round((bitmap.width * side) / long)),
        Math.max(1, Math.round((bitmap.height * side) / long)),
      );
      const context = canvas.getContext('2d');
      context.fillStyle = '#fff'; // JPEG has no transparency
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
      if (jpeg.size <= MAX_BYTES) return new File([jpeg], file.name.replace(/(\.[^.]*)?$/, '.jpg'), { type: 'image/jpeg' });
    }
    throw refused(`${file.name} is too large to send, even scaled down.`);
  } finally {
    bitmap.close();
  }
}

export function initImage() {
  const panel = document.getElementById('image-panel');
  const form = document.getElementById('image-form');
  const fileInput = document.getElementById('image-file');
  const urlInput = document.getElementById('image-url');
  const preview = document.getElementById('image-preview');
  const previewImg = document.getElementById('image-preview-img');
  const caption = document.getElementById('image-preview-caption');
  const result = document.getElementById('image-result');
  const task = createTask(panel, { busyText: 'Classifying…' });
  let objectUrl = null;

  function showPreview(src, text) {
    if (objectUrl && objectUrl !== src) URL.revokeObjectURL(objectUrl);
    objectUrl = src.startsWith('blob:') ? src : null;
    previewImg.src = src;
    previewImg.alt = `Preview: ${text}`;
    caption.textContent = text;
    preview.hidden = false;
  }

  function clearPreview() {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    previewImg.removeAttribute('src');
    preview.hidden = true;
  }

  // A URL that cannot be previewed (http, or an error) just has no preview: the server still classifies it.
  previewImg.addEventListener('error', () => {
    if (previewImg.getAttribute('src')) preview.hidden = true;
  });

  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    result.hidden = true;
    if (!file) {
      clearPreview();
      return;
    }
    urlInput.value = '';
    showPreview(URL.createObjectURL(file), `${file.name} · ${kilobytes(file)}`);
  });

  urlInput.addEventListener('input', () => {
    if (urlInput.value.trim() !== '' && fileInput.value !== '') {
      fileInput.value = '';
      clearPreview();
    }
  });

  function render(data) {
    const labels = Array.isArray(data.labels) ? data.labels : [];
    document.getElementById('image-labels').replaceChildren(...labels.map((l) => scoreItem(l.label, l.score)));
    document.getElementById('image-model').textContent = `Model: ${data.model}`;
    result.hidden = false;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const file = fileInput.files?.[0];
    const url = urlInput.value.trim();
    if (file) {
      task.run(async (signal) => {
        const upload = await fitForUpload(file);
        if (upload !== file) {
          caption.textContent = `${file.name} · ${kilobytes(file)} · sent scaled down as a JPEG of ${kilobytes(upload)}`;
        }
        render(await api.classifyImage(upload, { signal }));
      });
    } else if (url !== '') {
      if (url.startsWith('https://')) showPreview(url, url);
      else clearPreview();
      task.run(async (signal) => render(await api.classifyImage(url, { signal })));
    } else {
      task.run(async () => {
        throw new AirelayError({ status: 0, code: 'invalid_input', message: 'Choose an image file or enter an image URL first.' });
      });
      fileInput.focus();
    }
  });
}
