// The people of the coordinator's community (GET /api/v1/people), loaded once and
// refreshed when a screen that names people opens: volunteers to assign, names for ids.
import { ctx } from '../shared/context.js';
import { handleError } from '../shared/toast.js';
import { getJson } from './http.js';
import { byText } from './model.js';

let people = null;
let loading = null;
let loadedAt = 0;
const FRESH_MS = 30_000;

/** Everyone known so far (null before the first answer); starts a refresh when stale. */
export function knownPeople() {
  if (!loading && (!people || Date.now() - loadedAt > FRESH_MS)) {
    loading = getJson('/api/v1/people').then(
      (list) => { people = list; loading = null; loadedAt = Date.now(); ctx.redraw?.(); },
      (err) => { loading = null; loadedAt = Date.now(); people = people || []; handleError(err, 'people'); });
  }
  return people;
}

export function volunteers() {
  return (knownPeople() || []).filter((p) => p.role === 'volunteer')
    .sort((a, b) => byText(a.name, b.name) || byText(a.id, b.id));
}

/** A person's name, or the fallback when unknown. */
export function nameOf(id, fallback = '') {
  if (!id) return fallback;
  return (knownPeople() || []).find((p) => p.id === id)?.name || fallback;
}
