// Last-writer-wins merge of field changes.
//
// Mirror of sync/merge.py, function for function; tests/vectors/merge.json holds both to
// the same answers. The contract is docs/protocol.md.
//
// State is a Map from keyOf(change) = coll + '\u0000' + id + '\u0000' + field to the
// winning change for that field.
// apply(state, change):
//   current = state.get(key)
//   if current is undefined or change.hlc > current.hlc: state.set(key, change) (it wins)
//   otherwise nothing changes; in particular the same hlc twice is a no-op.
// Stamps are compared as plain strings, which is their total order (see clock.js); they
// are ASCII, so JS's UTF-16 comparison agrees with Python's.
//
// Why it converges: per key the result is the change with the greatest stamp among all
// changes seen, whatever their order or repetition, so merging is commutative,
// associative and idempotent. This rests on stamps being unique (one stamp per field
// change); two different changes under one stamp would break the protocol, and here the
// first one seen would stay.
//
// Deletion is the field `_deleted`: records() leaves out a record whose `_deleted`
// winner is true, and a later `_deleted = false` brings it back with all its other
// winning fields, because deleting never discards them.

// Set-valued fields are merged per element through element fields such as
// `needs_open.water`, each LWW on its own; records() folds them (the rule is in sets.js).
import { fold } from './sets.js';

const SEP = '\u0000';

/**
 * @typedef {{coll: string, id: string, field: string, value: unknown, hlc: string}} Change
 */

/**
 * The state key of a change. NUL cannot occur in collection names, ids or field names
 * that pass validation, so the key is unambiguous.
 * @param {Change} change
 * @returns {string} coll + '\u0000' + id + '\u0000' + field
 */
export function keyOf(change) {
  return change.coll + SEP + change.id + SEP + change.field;
}

/**
 * The key of a record in the result of records().
 * @param {string} coll
 * @param {string} id
 * @returns {string} coll + '\u0000' + id
 */
export function recordKey(coll, id) {
  return coll + SEP + id;
}

/**
 * Merge one change into `state` in place.
 * @param {Map<string, Change>} state map from key to winning change; mutated
 * @param {Change} change
 * @returns {boolean} true if the change is now the winner of its field; false if an
 *   equal or greater stamp was already there (the state is unchanged)
 */
export function apply(state, change) {
  const key = keyOf(change);
  const current = state.get(key);
  if (current !== undefined && change.hlc <= current.hlc) return false;
  state.set(key, change);
  return true;
}

/**
 * Merge changes into a copy of `state`.
 * @param {Map<string, Change>} state left untouched
 * @param {Iterable<Change>} changes in any order, duplicates allowed
 * @returns {Map<string, Change>} a new map from key to winning change
 */
export function merge(state, changes) {
  const result = new Map(state);
  for (const change of changes) apply(result, change);
  return result;
}

/**
 * Whether two states hold the same winners: same keys and, per key, the same hlc and
 * value (values compared as JSON).
 * @param {Map<string, Change>} a
 * @param {Map<string, Change>} b
 * @returns {boolean}
 */
export function winnersEqual(a, b) {
  if (a.size !== b.size) return false;
  for (const [key, left] of a) {
    const right = b.get(key);
    if (right === undefined || left.hlc !== right.hlc) return false;
    if (JSON.stringify(left.value) !== JSON.stringify(right.value)) return false;
  }
  return true;
}

/**
 * Fold field winners into records.
 * @param {Map<string, Change>} state
 * @returns {Map<string, Record<string, unknown>>} map from recordKey(coll, id) to
 *   {field: value} with every winning field, including `_deleted` when its winner is
 *   false, and set fields folded from their element fields (sets.js); records whose
 *   `_deleted` winner is true are left out
 */
export function records(state) {
  /** @type {Map<string, Array<[string, unknown]>>} */
  const folded = new Map();
  for (const change of state.values()) {
    const key = recordKey(change.coll, change.id);
    let fields = folded.get(key);
    if (fields === undefined) folded.set(key, (fields = []));
    fields.push([change.field, [change.hlc, change.value]]);
  }
  const result = new Map();
  for (const [key, fields] of folded) {
    // fold() uses fromEntries (own properties), so a field named "__proto__" stays data.
    const record = fold(key.slice(0, key.indexOf(SEP)), fields);
    if (record._deleted !== true) result.set(key, record);
  }
  return result;
}
