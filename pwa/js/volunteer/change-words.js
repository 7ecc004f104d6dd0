// A field change in words, for the settings page's refused entries: "走访 · 结果：exploded",
// not `visits.outcome = exploded` (#22). Collection and field from the i18n tables; the
// value as the app shows values elsewhere (labels, local times, places and names, never an
// id); a value with no word of its own (what the server refused, often) as it was sent.
import { t } from '../shared/i18n.js';
import { shortTime } from '../shared/dom.js';
import { split as splitElement } from '../sync/sets.js';

// Which label group words a field's values (per collection where they differ).
const GROUPS = { outcome: 'outcome', needs: 'need', needs_open: 'need', vulnerable: 'vuln', item: 'item', kind: 'kind' };
const STATUS = { deliveries: 'dstatus', repairs: 'rstatus', incidents: 'istatus', reports: 'repstatus' };
const TIMES = new Set(['at', 'done_at', 'started_at', 'restored_at', 'eta']);
const MAX = 60;

/** The word for `key`, or null when the tables have none (t() answers the key itself). */
function word(key) {
  const w = t(key);
  return w === key ? null : w;
}

const cut = (s) => (s.length > MAX ? `${s.slice(0, MAX)}…` : s);

function place(replica, id) {
  const hh = replica?.get('households', id);
  if (!hh) return null;
  const b = hh.building ? replica.get('buildings', hh.building) : null;
  return [b?.label, hh.unit ? t('grid.unit', { n: hh.unit }) : null, hh.room].filter(Boolean).join(' ') || null;
}

/** Records a change may point at, worded by what a person knows them by. */
const REFS = {
  household: place,
  incident: (r, id) => r?.get('incidents', id)?.title || null,
  building: (r, id) => r?.get('buildings', id)?.label || null,
  community: (r, id) => r?.get('communities', id)?.name || null,
  // A person id: this phone's own person is the only one it writes (a report's reporter).
  reporter: (r, id, me) => (me?.person && id === me.person ? me.name || null : null),
};
REFS.buildings = REFS.building;
REFS.restored_buildings = REFS.building;

function valueWords(coll, field, value, replica, me) {
  if (value === null || value === undefined) return t('change.cleared');
  if (typeof value === 'boolean') return t(value ? 'change.yes' : 'change.no');
  const ref = (id) => REFS[field](replica, id, me) || t('change.unknownRef');
  if (REFS[field]) return Array.isArray(value) ? value.map(ref).join('、') || t('change.none') : ref(value);
  const group = field === 'status' ? STATUS[coll] : GROUPS[field];
  const one = (v) => (group && word(`${group}.${v}`)) || (typeof v === 'string' ? v : JSON.stringify(v));
  if (Array.isArray(value)) return value.length ? value.map(one).join('、') : t('change.none');
  if (TIMES.has(field) && typeof value === 'string') return shortTime(value);
  return one(value);
}

/**
 * One refused change in words.
 * @param {{coll: string, field: string, value: any}} change
 * @param {object} [replica] what the phone holds, to name households, incidents, buildings
 * @param {{person?: string, name?: string}} [me] this phone's enrolment, to name its person
 */
export function changeWords(change, replica, me) {
  const coll = word(`coll.${change.coll}`) || t('coll.other');
  const element = splitElement(change.coll, change.field);
  const base = element ? element[0] : change.field;
  const field = word(`field.${base}`) || t('field.other');
  if (element) {
    const v = valueWords(change.coll, base, [element[1]], replica, me);
    return cut(t(change.value === true ? 'change.added' : 'change.removed', { coll, field, value: v }));
  }
  return t('change.line', { coll, field, value: cut(valueWords(change.coll, base, change.value, replica, me)) });
}
