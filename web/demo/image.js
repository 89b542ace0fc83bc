// Image panel: POST /api/image/classify/upload (multipart, field `image`) or /api/image/classify {image_url} → {labels, model}.
import { AirelayError, api } from './api.js';
import { integer } from './format.js';
import { scoreItem } from './scores.js';
import { createTask } from './task.js';

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
    showPreview(URL.createObjectURL(file), `${file.name} · ${integer.format(Math.ceil(file.size / 1024))} KB`);
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
      task.run(async (signal) => render(await api.classifyImage(file, { signal })));
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
