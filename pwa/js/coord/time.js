// Local times for people: "22:53" today, "11-29 22:53" otherwise, "2026-11-29" for days.
import { shortTime } from '../shared/dom.js';

export const localTime = (t) => shortTime(t);
const pad = (n) => String(n).padStart(2, '0');

/** The local calendar day of a time (YYYY-MM-DD). */
export function localDay(t = Date.now()) {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The time an HLC stamp carries (its first 24 characters are ISO UTC). */
export const stampTime = (hlc) => (typeof hlc === 'string' ? hlc.slice(0, 24) : '');

/** Value for an <input type=datetime-local> from an ISO time. */
export function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${localDay(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
