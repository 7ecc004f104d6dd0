// Set-valued fields: membership per element, each element last-writer-wins.
//
// Mirror of sync/sets.py, function for function; tests/vectors/merge.json holds both to
// the same answers and docs/protocol.md is the contract. In short: a set field F is
// written per element as the boolean field `F.e` (true in, false/null out), each LWW on
// its own key, so concurrent adds by different phones are all kept and a removal removes
// only the element its author turned off. A whole-list write `F = [...]` (old phones,
// imports) writes every element at its stamp. The record's F is folded from the winners:
// member(e) = whichever of the winners `F.e` and `F` has the greater stamp; F lists the
// members (listed ones first, in the list's order, then the rest in code-point order), or
// is the list winner as it is when no element field of F was ever written.

/** collection → set fields; the same table as schemas.records.SET_FIELDS (pwa/schema.json setFields). */
export const SET_FIELDS = {
  households: ['vulnerable'],
  household_status: ['needs_open'],
  incidents: ['buildings', 'restored_buildings'],
};

export const SEP = '.';

/** The element field name for `element` of the set field `field`. */
export const elementField = (field, element) => `${field}${SEP}${element}`;

/** [set field, element] if `field` is an element field of `coll`, else null. */
export function split(coll, field) {
  const i = field.indexOf(SEP);
  if (i <= 0 || i === field.length - 1) return null;
  const base = field.slice(0, i);
  return (SET_FIELDS[coll] || []).includes(base) ? [base, field.slice(i + 1)] : null;
}

/** Whether `field` is a set field of `coll`. */
export const isSetField = (coll, field) => (SET_FIELDS[coll] || []).includes(field);

const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The members of one set field.
 * @param {[string, unknown]|undefined} listed [hlc, value] of the list winner
 * @param {Map<string, [string, unknown]>} elements element → [hlc, value]
 * @returns {unknown[]}
 */
export function members(listed, elements) {
  const listHlc = listed ? listed[0] : '';
  const base = listed && Array.isArray(listed[1]) ? listed[1] : [];
  const out = [];
  const seen = new Set();
  for (const e of base) {
    if (seen.has(e)) continue;
    seen.add(e);
    const won = typeof e === 'string' ? elements.get(e) : undefined;
    if (won === undefined || won[0] < listHlc || won[1] === true) out.push(e);
  }
  // Code-point order, as Python's sorted(): ids and enum names are ASCII.
  for (const e of [...elements.keys()].sort(cmp)) {
    if (seen.has(e)) continue;
    const [hlc, value] = elements.get(e);
    if (hlc > listHlc && value === true) out.push(e);
  }
  return out;
}

/**
 * One record's field values, set fields folded from their element winners.
 * @param {string} coll
 * @param {Iterable<[string, [string, unknown]]>} winners field → [hlc, value]
 * @returns {Record<string, unknown>} without element fields
 */
export function fold(coll, winners) {
  const all = new Map(winners);
  const entries = [];
  const elements = new Map();
  for (const [name, [hlc, value]] of all) {
    const parts = split(coll, name);
    if (parts === null) { entries.push([name, value]); continue; }
    let m = elements.get(parts[0]);
    if (m === undefined) elements.set(parts[0], (m = new Map()));
    m.set(parts[1], [hlc, value]);
  }
  const record = Object.fromEntries(entries);
  for (const [base, elems] of elements) record[base] = members(all.get(base), elems);
  return record;
}
