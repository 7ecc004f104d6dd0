// The needs queue: open needs by building, vulnerable households first. A need goes to a
// volunteer (household_status.assignee) and is closed with "done" (needs_open = []):
// both are records, so they sync to the volunteers' phones and stay in history.
import { h } from '../shared/dom.js';
import { label, t } from '../shared/i18n.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { openNeeds } from './model.js';
import { assignNeeds, setNeeds } from './actions.js';
import { volunteers, nameOf } from './people.js';
import { offerUndo } from './undo.js';

export const place = (building, hh) =>
  [building?.label || '', hh.unit ? t('grid.unit', { n: hh.unit }) : '', hh.room || ''].filter(Boolean).join(' ');

/** A phone number a tap calls (D16); the text stays as the volunteer wrote it. */
export const telLink = (contact) => h('a.tel', { href: `tel:${contact.replace(/[^\d+]/g, '')}` }, contact);

function assignPick(incident, hh, where, assignee, people) {
  return h('select.assign-need', {
    'aria-label': ct('assignFor', { h: where }),
    onchange: (e) => {
      const who = e.target.value;
      assignNeeds(incident.id, hh.id, who).then(
        () => toast(who ? ct('needAssigned', { who: nameOf(who, who) }) : ct('nobody'), { kind: 'ok' }),
        (err) => handleError(err, 'assign need'));
    },
  }, h('option', { value: '' }, `${ct('assignTo')}…`),
  people.map((p) => h('option', { value: p.id, selected: p.id === assignee }, p.name || p.id)),
  assignee && !people.some((p) => p.id === assignee) ? h('option', { value: assignee, selected: true }, nameOf(assignee, ct('unknownPerson'))) : null);
}

function row(incident, { building, household: hh, needs, status }, people) {
  const where = place(building, hh);
  return h('li.need-row', { dataset: { h: hh.id } },
    h('div.need-what', null,
      h('a', { href: `#/i/${incident.id}/h/${hh.id}` }, h('strong', null, where)),
      hh.contact ? [' ', telLink(hh.contact)] : null,
      h('span.needs', null,
        (hh.vulnerable || []).map((v) => h('span.badge.vuln', null, label('vuln', v))),
        needs.map((n) => h('span.badge', null, label('need', n))))),
    h('div.need-act', null,
      assignPick(incident, hh, where, status?.assignee, people),
      h('button.small-btn.need-done', {
        type: 'button', 'aria-label': ct('doneFor', { h: where }),
        onclick: () => setNeeds(incident.id, hh.id, []).then(
          () => offerUndo(ct('needDone'), () => setNeeds(incident.id, hh.id, needs)),
          (err) => handleError(err, 'need done')),
      }, ct('done'))));
}

export function needsQueue(replica, incident) {
  const rows = openNeeds(replica, incident);
  if (!rows.length) return h('section.panel', null, h('h2', null, ct('needs')), h('p.muted', null, ct('noNeeds')));
  const people = volunteers();
  const groups = new Map();
  for (const r of rows) {
    const k = r.building.id;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  return h('section.panel.needs-queue', null,
    h('h2', null, ct('needs'), ' ', h('span.muted', null, ct('openNeedsN', { n: rows.length }))),
    [...groups.values()].map((list) => h('section.need-group', null,
      h('h3.b-label', null, `${list[0].building.label || ''} · ${list.length}`),
      h('ul.needs-list', null, list.map((r) => row(incident, r, people))))));
}
