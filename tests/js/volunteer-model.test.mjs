// What a household tile shows, derived from visits, deliveries and household_status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replica } from '../../pwa/js/sync/replica.js';
import { householdView, progress, incidentScope } from '../../pwa/js/volunteer/model.js';

const N = '0123456789abcdef';
let tick = 0;
function put(r, coll, id, fields) {
  r.applyAll(Object.entries(fields).map(([field, value]) => ({
    coll, id, field, value, hlc: `2026-11-22T14:00:00.000Z-${(tick++).toString(16).padStart(4, '0')}-${N}`,
  })));
}
function world() {
  const r = new Replica();
  put(r, 'buildings', 'b1', { label: '55号院1号楼', units: 2 });
  put(r, 'households', 'h1', { building: 'b1', unit: '1', room: '101' });
  put(r, 'households', 'h2', { building: 'b1', unit: '1', room: '102' });
  put(r, 'households', 'h3', { building: 'b1', unit: '2', room: '101', vulnerable: ['lone_elderly'] });
  put(r, 'incidents', 'i1', { title: '停暖', buildings: ['b1'], status: 'repairing' });
  return r;
}

test('a household moves through the five states as the night goes on', () => {
  const r = world();
  assert.equal(householdView(r, 'i1', 'h1').state, 'none');
  put(r, 'visits', 'v1', { household: 'h1', incident: 'i1', at: '2026-11-22T14:01:00Z', outcome: 'not_home', needs: [] });
  assert.equal(householdView(r, 'i1', 'h1').state, 'not_home');
  put(r, 'visits', 'v2', { household: 'h1', incident: 'i1', at: '2026-11-22T15:01:00Z', outcome: 'reached', needs: ['heater'] });
  put(r, 'household_status', 'i1~h1', { needs_open: ['heater'] });
  assert.equal(householdView(r, 'i1', 'h1').state, 'help');
  put(r, 'deliveries', 'd1', { household: 'h1', incident: 'i1', item: 'heater', qty: 1, status: 'delivered', at: '2026-11-22T15:10:00Z' });
  put(r, 'household_status', 'i1~h1', { needs_open: [] });
  const v = householdView(r, 'i1', 'h1');
  assert.equal(v.state, 'heater');
  assert.equal(v.heatersOut, 1);
  assert.equal(v.visits[0].id, 'v2', 'newest visit first');
  put(r, 'deliveries', 'd1', { status: 'returned' });
  assert.equal(householdView(r, 'i1', 'h1').state, 'reached');
});

test('visits of another incident do not colour this one', () => {
  const r = world();
  put(r, 'visits', 'v9', { household: 'h2', incident: 'other', at: '2026-11-22T14:01:00Z', outcome: 'reached' });
  assert.equal(householdView(r, 'i1', 'h2').state, 'none');
});

test('scope groups households by building and unit; progress counts are derived', () => {
  const r = world();
  put(r, 'visits', 'v1', { household: 'h3', incident: 'i1', at: '2026-11-22T14:01:00Z', outcome: 'reached', needs: ['medical'] });
  const scope = incidentScope(r, r.get('incidents', 'i1'));
  assert.deepEqual(scope[0].units.map((u) => [u.unit, u.households.map((h) => h.room)]), [['1', ['101', '102']], ['2', ['101']]]);
  assert.deepEqual(progress(r, r.get('incidents', 'i1')),
    { affected: 3, visited: 1, reached: 1, refused: 0, help: 1, heaters: 0, vulnerable: 1, vulnerableReached: 1 });
});

test('a refused door has its own state and counter, not 已联系', () => {
  const r = world();
  put(r, 'visits', 'v1', { household: 'h2', incident: 'i1', at: '2026-11-22T14:01:00Z', outcome: 'refused', needs: [] });
  assert.equal(householdView(r, 'i1', 'h2').state, 'refused');
  const p = progress(r, r.get('incidents', 'i1'));
  assert.equal(p.refused, 1);
  assert.equal(p.reached, 0);
});

test('a vulnerability marked by element counts at once, and two phones\' marks are both kept', () => {
  const r = world();
  put(r, 'households', 'h1', { 'vulnerable.empty_nest': true });
  put(r, 'households', 'h3', { 'vulnerable.disabled': true });
  assert.deepEqual(r.get('households', 'h1').vulnerable, ['empty_nest']);
  assert.deepEqual(r.get('households', 'h3').vulnerable, ['lone_elderly', 'disabled']);
  put(r, 'visits', 'v1', { household: 'h1', incident: 'i1', at: '2026-11-22T14:01:00Z', outcome: 'reached', needs: [] });
  const p = progress(r, r.get('incidents', 'i1'));
  assert.equal(p.vulnerable, 2);
  assert.equal(p.vulnerableReached, 1);
  put(r, 'households', 'h1', { 'vulnerable.empty_nest': false });
  assert.deepEqual(r.get('households', 'h1').vulnerable, []);
  assert.equal(progress(r, r.get('incidents', 'i1')).vulnerable, 1);
});
