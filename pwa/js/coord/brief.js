// The daily brief (日报): one duty day of an incident as XLSX, and as a page to print. It
// is what the street office sends up its reporting chain. The server counts; the day is
// the coordinator's duty day, from the shift change (the server's setting, 08:00 unless
// changed) to the next (its UTC offset goes with the request; #22 D17).
import { h } from '../shared/dom.js';
import { handleError } from '../shared/toast.js';
import { go } from '../shared/router.js';
import { ct } from './strings.js';
import { getFile, getJson, saveBlob } from './http.js';
import { localDay } from './time.js';

/** The brief's URL for a day (empty: the duty day running now): `format` is `json` or `xlsx`. */
export function briefUrl(id, day, format) {
  const tz = (day ? new Date(`${day}T12:00:00`) : new Date()).getTimezoneOffset();
  return `/api/v1/incidents/${encodeURIComponent(id)}/brief?${day ? `day=${day}&` : ''}tz=${-tz}&format=${format}`;
}

let chosenDay = null;
let dutyDay = null; // the server's duty day running now, once asked: {day, until}

/** The duty day running now, from the server (it knows the shift change's hour). */
function askDutyDay(id, input) {
  if (dutyDay && Date.now() < dutyDay.until) return;
  getJson(briefUrl(id, '', 'json')).then((b) => {
    dutyDay = { day: b.day, until: Date.parse(b.day_end) };
    if (!chosenDay && input.isConnected) input.value = b.day;
  }, () => {});
}

export function briefPanel(replica, inc) {
  const fresh = dutyDay && Date.now() < dutyDay.until ? dutyDay.day : null;
  const day = h('input.eta-input', { type: 'date', name: 'day', id: 'brief-day', value: chosenDay || fresh || localDay(), onchange: (e) => { chosenDay = e.target.value; } });
  if (!chosenDay && !fresh) askDutyDay(inc.id, day);
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
