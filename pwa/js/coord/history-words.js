// A record's history as sentences a duty officer reads aloud: "张三 22:53 记录需求：饮水
// （被 王五 22:53 的记录覆盖）". Field names in words, ids as names, times local.
import { label } from '../shared/i18n.js';
import { ctx } from '../shared/context.js';
import { ct } from './strings.js';
import { nameOf } from './people.js';
import { localTime, stampTime } from './time.js';

const ENUM_LIST = { needs_open: 'need', vulnerable: 'vuln' };

/** A field in words; one with no word of its own is "其他信息", never its key (D7). */
export function fieldWords(field) {
  const word = ct(`f_${field}`);
  return word === `f_${field}` ? ct('f_other') : word;
}

/** A field's value in words. */
export function valueWords(field, value) {
  if (value === null || value === undefined) return ct('cleared');
  if (ENUM_LIST[field] && Array.isArray(value)) return value.length ? value.map((v) => label(ENUM_LIST[field], v)).join('、') : ct('f_none');
  if (typeof value === 'boolean') return ct(value ? 'yes' : 'no');
  if (field === 'assignee') return nameOf(value, ct('unknownPerson'));
  if (field === 'building') return ctx.store?.replica.get('buildings', value)?.label || String(value);
  if (field === 'assigned_at' || field === 'at') return localTime(value);
  if (Array.isArray(value)) return value.join('、');
  return String(value);
}

const who = (r) => r.name || nameOf(r.person, ct('unknownPerson'));

/**
 * Sentences for history rows (GET /api/v1/records/.../history), newest first. A row that
 * lost names the write that won its field.
 */
export function historySentences(rows) {
  const winners = new Map(rows.filter((r) => r.winner).map((r) => [r.field, r]));
  return rows.filter((r) => r.field !== '_deleted' || r.value === true)
    .sort((a, b) => String(b.hlc).localeCompare(String(a.hlc)))
    .map((r) => {
      const at = localTime(stampTime(r.hlc));
      // A set's element written alone (`needs_open.heater: true`): added to or taken off it.
      const [base, element] = r.field.includes('.') ? r.field.split(/\.(.*)/s) : [r.field, null];
      let text;
      if (r.field === '_deleted') text = `${who(r)} ${at} ${ct('deletedRec')}`;
      else if (element !== null && ENUM_LIST[base]) {
        text = ct(r.value === true ? 'addedTo' : 'removedFrom', { who: who(r), at, field: fieldWords(base), value: label(ENUM_LIST[base], element) });
      } else text = ct('wrote', { who: who(r), at, field: fieldWords(element === null ? r.field : base), value: valueWords(base, r.value) });
      const w = winners.get(r.field);
      const lost = !r.winner && w ? ct('overwrittenBy', { who: who(w), at: localTime(stampTime(w.hlc)) }) : '';
      return { text: text + lost, winner: r.winner, hlc: r.hlc };
    });
}
