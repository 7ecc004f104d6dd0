// The daily brief (日报): one day of an incident as XLSX, and as a page to print. It is
// what the street office sends up its reporting chain. The server counts; the day is the
// coordinator's local calendar day (its UTC offset goes with the request).
import { h } from '../shared/dom.js';
import { handleError } from '../shared/toast.js';
import { go } from '../shared/router.js';
import { ct } from './strings.js';
import { getFile, saveBlob } from './http.js';
import { localDay } from './time.js';

/** The brief's URL for a day: `format` is `json` or `xlsx`. */
export function briefUrl(id, day, format) {
  const tz = new Date(`${day}T12:00:00`).getTimezoneOffset();
  return `/api/v1/incidents/${encodeURIComponent(id)}/brief?day=${day}&tz=${-tz}&format=${format}`;
}

let chosenDay = null;

export function briefPanel(replica, inc) {
  const day = h('input.eta-input', { type: 'date', name: 'day', id: 'brief-day', value: chosenDay || localDay(), onchange: (e) => { chosenDay = e.target.value; } });
  const xlsx = async () => {
    try {
      const { blob, name } = await getFile(briefUrl(inc.id, day.value || localDay(), 'xlsx'));
      saveBlob(blob, name);
    } catch (err) { handleError(err, 'brief'); }
  };
  const exportAll = async (format) => {
    try {
      const { blob, name } = await getFile(`/api/v1/incidents/${encodeURIComponent(inc.id)}/export?format=${format}`);
      saveBlob(blob, name);
    } catch (err) { handleError(err, 'export'); }
  };
  return h('section.panel.brief', null,
    h('h2', null, ct('briefTitle')),
    h('div.brief-form', null,
      h('label', { for: 'brief-day' }, ct('briefDay')), day,
      h('button.big.primary', { type: 'button', onclick: xlsx }, ct('briefXlsx')),
      h('button.big', { type: 'button', onclick: () => go(`/i/${inc.id}/brief/print/${day.value || localDay()}`) }, ct('briefPrint'))),
    h('h3', null, ct('exportAll')),
    h('div.row', null,
      h('button.small-btn', { type: 'button', onclick: () => exportAll('xlsx') }, 'Excel (XLSX)'),
      h('button.small-btn', { type: 'button', onclick: () => exportAll('csv') }, 'CSV')));
}
