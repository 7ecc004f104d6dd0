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
    title: '需核实', none: '没有需要核实的情况', resolve: '已核实', resolved: '已处理',
    two_heaters: '同一户借出两台以上电暖气', contradictory: '几分钟内记录了相互矛盾的结果',
    vulnerable_unreached: '重点人群户长时间未联系上', unknown: '未知住户',
  },
  en: {
    title: 'Needs checking', none: 'Nothing to check', resolve: 'Checked', resolved: 'Resolved',
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

async function resolve(incident, item) {
  const now = new Date(ctx.store.now()).toISOString();
  const fields = { resolved: true, at: now, by: ctx.store.meta.auth?.name || ctx.session?.name || '' };
  await ctx.store.write(Object.entries(fields).map(([field, value]) => ({ coll: 'checks', id: item.id, field, value })));
  ctx.afterWrite?.();
  item.resolved = true;
}

function render(box, incident, items) {
  const { replica } = ctx.store;
  const open = items.filter((c) => !c.resolved);
  mount(box,
    h('h2', null, `${w('title')} `, h('span.badge', { dataset: { testid: 'checks-open' } }, String(open.length))),
    items.length ? h('ul.checks-list', null, items.map((c) => h(`li.check${c.resolved ? '.resolved' : ''}`, { dataset: { kind: c.kind, h: c.household } },
      h('a', { href: `#/i/${incident}/h/${c.household}` }, h('strong', null, place(replica, c.household))),
      h('div', null, w(c.kind)),
      h('ul.plain', null, c.entries.map((e) => h('li.muted', null, entryText(e)))),
      c.resolved
        ? h('span.muted', null, `✓ ${w('resolved')}${c.resolved_by ? ` · ${c.resolved_by}` : ''}${c.note ? ` · ${c.note}` : ''}`)
        : h('button.small-btn', { type: 'button', onclick: async () => {
          try { await resolve(incident, c); render(box, incident, items); } catch (err) { handleError(err, 'resolve check'); }
        } }, w('resolve'))))) : h('p.muted', null, w('none')));
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
