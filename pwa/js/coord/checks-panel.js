// 需核实 (needs checking): entries the server derives from records — two heaters on loan
// to one door, outcomes that contradict each other minutes apart, a vulnerable household
// not reached N hours in (server/checks.py). Resolving one is a record (`checks`), written
// through the outbox like every other coordinator write.
import { h, mount, shortTime } from '../shared/dom.js';
import { t, label, getLang } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { handleError } from '../shared/toast.js';
import { getJson } from './http.js';

const WORDS = {
  'zh-CN': {
    title: '需核实', none: '没有需要核实的情况', resolve: '已核实', resolved: '已处理', undo: '撤销核实',
    showAll: (n) => `显示全部 ${n} 条`, showResolved: (n) => `已处理 ${n} 条`, fewer: '收起',
    two_heaters: '同一户借出两台以上电暖气', contradictory: '几分钟内记录了相互矛盾的结果',
    vulnerable_unreached: '重点人群户长时间未联系上', unknown: '未知住户',
  },
  en: {
    title: 'Needs checking', none: 'Nothing to check', resolve: 'Checked', resolved: 'Resolved', undo: 'Undo check',
    showAll: (n) => `Show all ${n}`, showResolved: (n) => `${n} resolved`, fewer: 'Show fewer',
    two_heaters: 'Two or more heaters on loan to one household', contradictory: 'Contradictory outcomes minutes apart',
    vulnerable_unreached: 'Vulnerable household not reached for hours', unknown: 'Unknown household',
  },
};
const w = (k) => (WORDS[getLang()] || WORDS['zh-CN'])[k];
const cache = new Map(); // incident id → {at, items}
const FRESH_MS = 3000;
const loading = new Set(); // incidents whose list is on its way

function place(replica, hid) {
  const hh = replica.get('households', hid);
  if (!hh) return w('unknown');
  const b = hh.building ? replica.get('buildings', hh.building) : null;
  return [b?.label, hh.unit ? t('grid.unit', { n: hh.unit }) : null, hh.room].filter(Boolean).join(' ');
}

function entryText(e) {
  const what = e.coll === 'deliveries' ? label('item', e.what || 'heater') : label('outcome', e.what || 'reached');
  return `${e.by || '—'} ${shortTime(e.at)} ${what}`;
}

/** 已核实 (`done`) or its undo: a write of the `checks` record, like any other. */
async function resolve(item, done) {
  const now = new Date(ctx.store.now()).toISOString();
  const fields = { resolved: done, at: now, by: ctx.store.meta.auth?.name || ctx.session?.name || '' };
  await ctx.store.write(Object.entries(fields).map(([field, value]) => ({ coll: 'checks', id: item.id, field, value })));
  ctx.afterWrite?.();
}

/**
 * The server's list with this device's own resolutions over it: until a write has synced,
 * the server still answers with the old state, and the count, the groups and the buttons
 * must all read the same one (D20).
 */
export function withLocal(items, replica) {
  return items.map((c) => {
    const rec = replica?.get('checks', c.id);
    if (typeof rec?.resolved !== 'boolean') return c;
    return { ...c, resolved: rec.resolved, resolved_by: rec.resolved ? rec.by ?? c.resolved_by : null };
  });
}

/** Kinds in the order a duty officer acts on them; each a group of its own. */
const KINDS = ['two_heaters', 'contradictory', 'vulnerable_unreached'];
/** Entries of a group shown before "show all": 112 unreached doors are a list of their own
 * (the vulnerable section), not 13,000 px under every screen of the incident. */
export const SHOWN = 5;
const expanded = new Set(); // `${incident}|${group}` the coordinator opened (kept across redraws)
const resolvedHere = new Set(); // checks resolved on this page: they stay in place, marked

/** Open entries grouped by kind (known kinds first), and the resolved ones. */
export function groups(items) {
  const byKind = new Map();
  const resolved = [];
  for (const c of items) {
    if (c.resolved && !resolvedHere.has(c.id)) { resolved.push(c); continue; }
    if (!byKind.has(c.kind)) byKind.set(c.kind, []);
    byKind.get(c.kind).push(c);
  }
  const order = [...KINDS.filter((k) => byKind.has(k)), ...[...byKind.keys()].filter((k) => !KINDS.includes(k))];
  return { open: order.map((kind) => [kind, byKind.get(kind)]), resolved };
}

function entry(box, incident, items, c) {
  const { replica } = ctx.store;
  return h(`li.check${c.resolved ? '.resolved' : ''}`, { dataset: { kind: c.kind, h: c.household } },
    h('a', { href: `#/i/${incident}/h/${c.household}` }, h('strong', null, place(replica, c.household))),
    h('div', null, w(c.kind)),
    h('ul.plain', null, c.entries.map((e) => h('li.muted', null, entryText(e)))),
    c.resolved ? h('span.muted', null, `✓ ${w('resolved')}${c.resolved_by ? ` · ${c.resolved_by}` : ''}${c.note ? ` · ${c.note}` : ''} `) : null,
    h('button.small-btn', { type: 'button', onclick: async () => {
      try {
        await resolve(c, !c.resolved);
        if (!c.resolved) resolvedHere.add(c.id);
        render(box, incident, items);
      } catch (err) { handleError(err, 'resolve check'); }
    } }, w(c.resolved ? 'undo' : 'resolve')));
}

/** One group: its first SHOWN entries, and a button for the rest. */
function group(box, incident, items, key, list, heading) {
  const open = expanded.has(`${incident}|${key}`);
  // Resolved entries (no heading) are all folded; a kind shows its first SHOWN.
  const shown = open ? list : list.slice(0, heading ? SHOWN : 0);
  const toggle = () => { if (open) expanded.delete(`${incident}|${key}`); else expanded.add(`${incident}|${key}`); render(box, incident, items); };
  return h('div.check-group', { dataset: { group: key } },
    heading ? h('h3', null, heading) : null,
    shown.length ? h('ul.checks-list', null, shown.map((c) => entry(box, incident, items, c))) : null,
    list.length > SHOWN || (!heading && list.length)
      ? h('button.small-btn', { type: 'button', 'aria-expanded': String(open), onclick: toggle },
        open ? w('fewer') : heading ? w('showAll')(list.length) : w('showResolved')(list.length))
      : null);
}

function render(box, incident, serverItems) {
  const items = withLocal(serverItems, ctx.store?.replica);
  const { open, resolved } = groups(items);
  const count = items.filter((c) => !c.resolved).length;
  mount(box,
    h('h2', null, `${w('title')} `, h('span.badge', { dataset: { testid: 'checks-open' } }, String(count))),
    items.length ? null : h('p.muted', null, w('none')),
    // A group counts its open entries, as the badge does; one resolved here stays, marked.
    ...open.map(([kind, list]) => group(box, incident, serverItems, kind, list, `${w(kind)} · ${list.filter((c) => !c.resolved).length}`)),
    resolved.length ? group(box, incident, serverItems, 'resolved', resolved, null) : null);
}

/** The panel; fills itself from the server (cached briefly across redraws). */
export function checksPanel(incident) {
  const box = h('section.panel.checks-panel', { 'aria-label': w('title'), dataset: { incident } }, h('h2', null, w('title')));
  const hit = cache.get(incident);
  if (hit) render(box, incident, hit.items);
  if ((!hit || Date.now() - hit.at > FRESH_MS) && !loading.has(incident)) {
    loading.add(incident); // one request at a time, however often the screen redraws
    getJson(`/api/v1/incidents/${encodeURIComponent(incident)}/checks`).then((items) => {
      cache.set(incident, { at: Date.now(), items });
      for (const el of document.querySelectorAll('.checks-panel')) if (el.dataset.incident === incident) render(el, incident, items);
    }, (err) => { if (!hit) handleError(err, 'load checks'); }).finally(() => loading.delete(incident));
  }
  return box;
}
