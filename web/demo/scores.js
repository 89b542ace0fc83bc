// Ranked lists with a score per line (FAQ matches, image labels).
import { formatPercent } from './format.js';

/** A list item: text, a bar and the score as a percentage. */
export function scoreItem(text, score) {
  const item = document.createElement('li');
  item.className = 'score-item';
  const name = document.createElement('span');
  name.className = 'score-item__text';
  name.textContent = text;
  const value = document.createElement('span');
  value.className = 'score-item__value';
  value.textContent = formatPercent(score, score < 0.1 ? 1 : 0);
  const bar = document.createElement('span');
  bar.className = 'score-item__bar';
  bar.setAttribute('aria-hidden', 'true');
  const fill = document.createElement('span');
  fill.style.width = `${Math.min(1, Math.max(0, score)) * 100}%`;
  bar.append(fill);
  item.append(name, value, bar);
  return item;
}
