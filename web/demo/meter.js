// The horizontal bars used as meters (budget used, confidence): ARIA values plus the fill width.
import { formatPercent } from './format.js';

export function setMeter(bar, fraction, text = formatPercent(fraction)) {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  bar.setAttribute('aria-valuenow', String(Math.round(clamped * 100)));
  bar.setAttribute('aria-valuetext', text);
  bar.querySelector('.bar__fill').style.width = `${clamped * 100}%`;
}
