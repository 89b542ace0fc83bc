// Number formatting shared by the panels (en-US, tabular figures in CSS).

export const integer = new Intl.NumberFormat('en-US');

export function formatUsd(usd) {
  if (!Number.isFinite(usd)) return '—';
  const options = usd >= 0.01 || usd === 0
    ? { minimumFractionDigits: 2, maximumFractionDigits: usd >= 1 ? 2 : 4 }
    : { maximumSignificantDigits: 2 };
  return new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', ...options }).format(usd);
}

export function formatKrw(krw) {
  if (!Number.isFinite(krw)) return '—';
  const options = krw >= 1 || krw === 0 ? { maximumFractionDigits: 0 } : { maximumSignificantDigits: 2 };
  return new Intl.NumberFormat('en-US', { style: 'currency', currency: 'KRW', ...options }).format(krw);
}

export function formatPercent(fraction, digits = 0) {
  return new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: digits }).format(fraction);
}

export function formatSeconds(seconds) {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.ceil(seconds / 60)} min`;
  return `${Math.ceil(seconds / 3600)} h`;
}

/** 12,345 → "12.3k": for chart labels. */
export function formatCompact(value) {
  return new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(value);
}
