// The needs queue: open needs by building, vulnerable households first. A need goes to a
// volunteer (household_status.assignee) and is closed with "done" (needs_open = []):
// both are records, so they sync to the volunteers' phones and stay in history. The
// assignee sees it under 我的任务 (pwa/js/volunteer/my-tasks.js) and may close it with a
// note: those closed by a volunteer are listed under the queue with who, when and the note.
import { h } from '../shared/dom.js';
import { label, t } from '../shared/i18n.js';
import { handleError, toast } from '../shared/toast.js';
import { ct } from './strings.js';
import { openNeeds, doneByVolunteers } from './model.js';
import { assignNeeds, setNeeds } from './actions.js';
import { volunteers, nameOf } from './people.js';
import { offerUndo } from './undo.js';
import { localTime } from './time.js';

export const place = (building, hh) =>
  [building?.label || '', hh.unit ? t('grid.unit', { n: hh.unit }) : '', hh.room || ''].filter(Boolean).join(' ');

/** A phone number a tap calls (D16); the text stays as the volunteer wrote it. */
export const telLink = (contact) => h('a.tel', { href: `tel:${contact.replace(/[^\d+]/g, '')}` }, contact);

function assignPick(incident, hh, where, assignee, people, noteBox) {
  return h('select.assign-need', {
    'aria-label': ct('assignFor', { h: where }),
    onchange: (e) => {
      const who = e.target.value;
      // Picked (the note with it): the queue redraws live again; it waits while a field has focus.
      document.activeElement?.blur?.();
      assignNeeds(incident.id, hh.id, who, { previous: assignee, note: noteBox.value.trim() }).then(
        () => toast(who ? ct('needAssigned', { who: nameOf(who, who) }) : ct('nobody'), { kind: 'ok' }),
        (err) => handleError(err, 'assign need'));
    },
  }, h('option', { value: '' }, `${ct('assignTo')}…`),
  people.map((p) => h('option', { value: p.id, selected: p.id === assignee }, p.name || p.id)),
  assignee && !people.some((p) => p.id === assignee) ? h('option', { value: assignee, selected: true }, nameOf(assignee, ct('unknownPerson'))) : null);
}

function row(incident, { building, household: hh, needs, status }, people) {
  const where = place(building, hh);
  const noteBox = h('input.task-note', {
    type: 'text', maxLength: 500, placeholder: ct('taskNote'), 'aria-label': ct('taskNoteFor', { h: where }), value: status?.task_note || '',
  });
  return h('li.need-row', { dataset: { h: hh.id } },
    h('div.need-what', null,
      h('a', { href: `#/i/${incident.id}/h/${hh.id}` }, h('strong', null, where)),
      hh.contact ? [' ', telLink(hh.contact)] : null,
      h('span.needs', null,
        (hh.vulnerable || []).map((v) => h('span.badge.vuln', null, label('vuln', v))),
        needs.map((n) => h('span.badge', null, label('need', n)))),
      status?.assignee ? h('p.muted.assigned-line', null,
        ct('assignedAt', { who: nameOf(status.assignee, ct('unknownPerson')), at: localTime(status.assigned_at) })) : null),
    h('div.need-act', null,
      noteBox,
      assignPick(incident, hh, where, status?.assignee, people, noteBox),
      h('button.small-btn.need-done', {
        type: 'button', 'aria-label': ct('doneFor', { h: where }),
        onclick: () => setNeeds(incident.id, hh.id, []).then(
          () => offerUndo(ct('needDone'), () => setNeeds(incident.id, hh.id, needs)),
          (err) => handleError(err, 'need done')),
      }, ct('done'))));
}

/** Needs a volunteer closed from their phone: where, who, when, their note. */
function doneList(replica, incident) {
  const rows = doneByVolunteers(replica, incident);
  if (!rows.length) return null;
  return h('section.need-group.done-by-volunteers', null,
    h('h3', null, ct('doneByVolunteer')),
    h('ul.needs-list', null, rows.map(({ building, household: hh, status }) => h('li.need-row', { dataset: { h: hh.id } },
      h('div.need-what', null,
        h('a', { href: `#/i/${incident.id}/h/${hh.id}` }, h('strong', null, place(building, hh))),
        h('span.badge.ok', null, ct('done')),
        h('p.muted', null, ct('doneLine', { who: status.done_by || ct('unknownPerson'), at: localTime(status.done_at) })),
        h('p.done-note', null, status.done_note || ct('noDoneNote')))))));
}

export function needsQueue(replica, incident) {
  const rows = openNeeds(replica, incident);
  if (!rows.length) return h('section.panel', null, h('h2', null, ct('needs')), h('p.muted', null, ct('noNeeds')), doneList(replica, incident));
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
      h('ul.needs-list', null, list.map((r) => row(incident, r, people))))),
    doneList(replica, incident));
}
