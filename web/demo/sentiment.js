// Sentiment panel: POST /api/sentiment {text} → {sentiment, score, keywords, model}.
import { api } from './api.js';
import { formatPercent } from './format.js';
import { setMeter } from './meter.js';
import { createTask } from './task.js';

const LABELS = { positive: 'Positive', negative: 'Negative', neutral: 'Neutral' };

export function initSentiment() {
  const panel = document.getElementById('sentiment-panel');
  const form = document.getElementById('sentiment-form');
  const input = document.getElementById('sentiment-text');
  const result = document.getElementById('sentiment-result');
  const task = createTask(panel, { busyText: 'Analysing…' });

  function render(data) {
    const label = document.getElementById('sentiment-label');
    label.textContent = LABELS[data.sentiment] ?? String(data.sentiment);
    label.dataset.kind = data.sentiment;
    document.getElementById('sentiment-score').textContent = `${formatPercent(data.score)} confidence`;
    setMeter(document.getElementById('sentiment-bar'), data.score);
    const list = document.getElementById('sentiment-keywords');
    list.replaceChildren(...(data.keywords ?? []).map((word) => {
      const item = document.createElement('li');
      item.className = 'chip';
      item.textContent = word;
      return item;
    }));
    if (list.children.length === 0) {
      const item = document.createElement('li');
      item.className = 'chip chip--none';
      item.textContent = 'none';
      list.append(item);
    }
    document.getElementById('sentiment-model').textContent = `Model: ${data.model}`;
    result.dataset.kind = data.sentiment;
    result.hidden = false;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text === '') {
      input.focus();
      return;
    }
    task.run(async (signal) => render(await api.sentiment(text, { signal })));
  });
}
