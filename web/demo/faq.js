// FAQ panel: POST /api/faq {question, top_k} → {source: faq|model|handoff, answer, confidence, matched_question?, matches?}.
import { api } from './api.js';
import { formatPercent } from './format.js';
import { setMeter } from './meter.js';
import { scoreItem } from './scores.js';
import { createTask } from './task.js';

const SOURCES = {
  faq: 'From the FAQ',
  model: 'Answered by the model',
  handoff: 'Handed over to a person',
};

export function initFaq() {
  const panel = document.getElementById('faq-panel');
  const form = document.getElementById('faq-form');
  const input = document.getElementById('faq-question');
  const result = document.getElementById('faq-result');
  const task = createTask(panel, { busyText: 'Looking it up…' });

  function render(data) {
    const source = document.getElementById('faq-source');
    source.textContent = SOURCES[data.source] ?? String(data.source);
    source.dataset.kind = data.source;
    const confidence = Number(data.confidence);
    document.getElementById('faq-confidence').textContent = `${formatPercent(confidence)} confidence`;
    setMeter(document.getElementById('faq-bar'), confidence);
    document.getElementById('faq-answer').textContent = data.answer;
    document.getElementById('faq-matched').textContent = data.matched_question ? `Matched: “${data.matched_question}”` : '';
    const matches = Array.isArray(data.matches) ? data.matches : [];
    document.getElementById('faq-matches').replaceChildren(...matches.map((match) => scoreItem(match.question, match.score)));
    document.getElementById('faq-matches-box').hidden = matches.length === 0;
    result.hidden = false;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (question === '') {
      input.focus();
      return;
    }
    task.run(async (signal) => render(await api.faq(question, { topK: 3, signal })));
  });
}
