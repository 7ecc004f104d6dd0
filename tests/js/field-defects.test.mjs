// Issue 22's field defects in the volunteer app's pure logic: what a tile shows and what
// the phone counts (D5 已搬走, D12 a delivery without a visit), which household an entry
// belongs to (D6 undo), and which buildings a volunteer works in (D13).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replica } from '../../pwa/js/sync/replica.js';
import { householdView, progress, entryHousehold, entryKind, myBuildings } from '../../pwa/js/volunteer/model.js';

const N = '0123456789abcdef';
let tick = 0;
function put(r, coll, id, fields) {
  r.applyAll(Object.entries(fields).map(([field, value]) => ({
    coll, id, field, value, hlc: `2026-12-07T14:00:00.000Z-${(tick++).toString(16).padStart(4, '0')}-${N}`,
  })));
}
function world() {
  const r = new Replica();
  put(r, 'buildings', 'b1', { label: '3号楼' });
  put(r, 'buildings', 'b2', { label: '4号楼' });
  put(r, 'households', 'h1', { building: 'b1', unit: '2', room: '401' });
  put(r, 'households', 'h2', { building: 'b1', unit: '2', room: '402', vulnerable: ['lone_elderly'] });
  put(r, 'incidents', 'i1', { title: '停暖', buildings: ['b1', 'b2'], status: 'repairing' });
  return r;
}
const counts = (r) => progress(r, r.get('incidents', 'i1'));

test('a moved-out household has its own state, counted visited but not reached', () => {
  const r = world();
  put(r, 'visits', 'v1', { household: 'h1', incident: 'i1', at: '2026-12-07T14:01:00Z', outcome: 'moved', needs: [] });
  assert.equal(householdView(r, 'i1', 'h1').state, 'moved');
  const p = counts(r);
  assert.equal(p.visited, 1);
  assert.equal(p.reached, 0);
});

test('a heater delivered without a visit colours the tile and counts as visited and reached', () => {
  const r = world();
  put(r, 'deliveries', 'd1', { household: 'h2', incident: 'i1', item: 'heater', qty: 1, status: 'delivered', at: '2026-12-07T14:05:00Z' });
  assert.equal(householdView(r, 'i1', 'h2').state, 'heater');
  assert.deepEqual([counts(r).visited, counts(r).reached, counts(r).vulnerableReached], [1, 1, 1]);
  put(r, 'deliveries', 'd1', { status: 'returned' });
  assert.equal(householdView(r, 'i1', 'h2').state, 'reached', 'returned: still met at the door, not 未走访');
  assert.deepEqual([counts(r).visited, counts(r).reached, counts(r).heaters], [1, 1, 0]);
});

test('a household reached once stays reached after a later not-home visit, as the server counts it', () => {
  const r = world();
  put(r, 'visits', 'v1', { household: 'h1', incident: 'i1', at: '2026-12-07T14:01:00Z', outcome: 'reached', needs: [] });
  put(r, 'visits', 'v2', { household: 'h1', incident: 'i1', at: '2026-12-07T15:01:00Z', outcome: 'not_home', needs: [] });
  assert.equal(householdView(r, 'i1', 'h1').state, 'reached');
  assert.equal(counts(r).reached, 1);
});

test('an entry belongs to the household its visit, delivery, status or mark is about', () => {
  const r = world();
  put(r, 'visits', 'v1', { household: 'h1', incident: 'i1', outcome: 'reached' });
  put(r, 'deliveries', 'd1', { household: 'h2', incident: 'i1', item: 'heater' });
  const absent = (coll, id, field) => ({ coll, id, field, absent: true });
  const visit = { hlcs: ['x'], prior: [absent('visits', 'v1', 'household'), absent('household_status', 'i1~h1', 'needs_open.heater')] };
  assert.equal(entryHousehold(r, visit), 'h1');
  assert.equal(entryKind(visit), 'visits');
  const delivery = { hlcs: ['y'], prior: [absent('deliveries', 'd1', 'item')] };
  assert.equal(entryHousehold(r, delivery), 'h2');
  assert.equal(entryKind(delivery), 'deliveries');
  assert.equal(entryHousehold(r, { prior: [absent('household_status', 'i1~h2', 'restored')] }), 'h2');
  assert.equal(entryHousehold(r, { prior: [absent('households', 'h1', 'vulnerable.infant')] }), 'h1');
  assert.equal(entryHousehold(r, { prior: [absent('incidents', 'i9', 'title')] }), null, 'a field report is no household\'s');
  assert.equal(entryHousehold(r, null), null);
});

test('a volunteer works in the buildings of their active assignments and of incidents assigned whole', () => {
  const r = new Replica();
  put(r, 'incidents', 'i1', { buildings: ['b1', 'b2', 'b3'] });
  put(r, 'assignments', 'p1~b5', { person: 'p1', building: 'b5', active: true });
  put(r, 'assignments', 'p1~b6', { person: 'p1', building: 'b6', active: false });
  assert.deepEqual([...myBuildings(r, 'p1')].sort(), ['b5']);
  put(r, 'assignments', 'p1~i1', { person: 'p1', incident: 'i1', active: true });
  assert.deepEqual([...myBuildings(r, 'p1')].sort(), ['b1', 'b2', 'b3', 'b5']);
  put(r, 'households', 'h9', { building: 'b7', room: '101' });
  assert.ok(myBuildings(r, 'p1').has('b7'), 'households the server sent are in scope');
  assert.ok(!myBuildings(r, 'p2').has('b5'), 'another person\'s assignment is not mine');
});
