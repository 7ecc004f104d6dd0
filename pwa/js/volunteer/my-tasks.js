// 我的任务: the households a coordinator gave this volunteer from the needs queue
// (household_status.assignee = me). They are in the replica, so the list works offline;
// "完成" closes the needs with a note, and the console's queue shows it as it syncs.
import { h } from '../shared/dom.js';
import { t, label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { shortTime } from '../shared/dom.js';
import { handleError, toast } from '../shared/toast.js';
import { elementField } from '../sync/sets.js';
import { byText, householdView } from './model.js';
import { writeRecord } from './actions.js';
import { screen, titleBar } from './screen.js';

/** My tasks, open first, newest assignment first. */
export function myTasks(replica, me) {
  if (!me) return [];
  const out = [];
  for (const s of replica.all('household_status')) {
    if (s.assignee !== me) continue;
    const [incident, household] = s.id.split('~');
    const hh = replica.get('households', household);
    if (!hh) continue;
    const v = householdView(replica, incident, household);
    out.push({ id: s.id, incident, household: hh, building: replica.get('buildings', hh.building), needs: v.needsOpen, status: s, open: v.needsOpen.length > 0 || !s.done_at });
  }
  return out.sort((a, b) => Number(b.open) - Number(a.open) || byText(b.status.assigned_at, a.status.assigned_at));
}

export const address = (building, hh) => [building?.compound || '', building?.label || '',
  hh.unit ? t('grid.unit', { n: hh.unit }) : '', hh.room || ''].filter(Boolean).join(' ');

const drafts = new Map(); // task id → the done note being typed

async function markDone(task, note) {
  const fields = Object.fromEntries(task.needs.map((n) => [elementField('needs_open', n), false]));
  Object.assign(fields, { done_note: note || null, done_by: ctx.store.meta.auth?.name || null, done_at: new Date(ctx.store.now()).toISOString() });
  await writeRecord('household_status', task.id, fields);
  drafts.delete(task.id);
  toast(t('tasks.closed'), { kind: 'ok' });
}

function taskCard(task) {
  const { household: hh, building, status: s } = task;
  const where = address(building, hh);
  // A sync redraws the screen: the note being typed is kept across redraws.
  const note = h('textarea.task-done-note', {
    rows: 2, maxLength: 2000, placeholder: t('tasks.notePlaceholder'), 'aria-label': t('tasks.noteFor', { h: where }),
    value: drafts.get(task.id) || '', oninput: (e) => drafts.set(task.id, e.target.value),
  });
  return h(`article.card.task-card${task.open ? '' : '.task-done'}`, { dataset: { h: hh.id } },
    h('h2', null, h('a', { href: `#/i/${task.incident}/h/${hh.id}` }, where)),
    task.needs.length ? h('p', null, task.needs.map((n) => h('span.badge', null, label('need', n)))) : null,
    s.task_note ? h('p.task-note', null, t('tasks.fromCoordinator', { note: s.task_note })) : null,
    s.assigned_at ? h('p.muted', null, t('tasks.assignedAt', { at: shortTime(s.assigned_at) })) : null,
    task.open
      ? h('div.task-close', null, note, h('button.big', {
        type: 'button', 'aria-label': t('tasks.doneFor', { h: where }),
        onclick: () => markDone(task, note.value.trim()).catch((err) => handleError(err, 'task done')),
      }, t('tasks.done')))
      : h('p.muted', null, t('tasks.doneAt', { at: shortTime(s.done_at) }), s.done_note ? ` · ${s.done_note}` : ''));
}

export function myTasksView() {
  const tasks = myTasks(ctx.store.replica, ctx.store.meta.auth?.person);
  return screen(
    titleBar(t('tasks.title'), { back: '/' }),
    tasks.length ? h('div.list', null, tasks.map(taskCard)) : h('p.empty', null, t('tasks.empty')));
}

/** The entry on the first screen: "我的任务 (2)", only when there are any. */
export function myTasksLink() {
  const tasks = myTasks(ctx.store.replica, ctx.store.meta.auth?.person);
  if (!tasks.length) return null;
  const open = tasks.filter((x) => x.open).length;
  return h('a.big.tasks-link', { href: '#/tasks' }, t('tasks.link', { n: open }));
}
