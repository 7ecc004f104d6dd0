// The console's own counts of "reached" follow the counters (#22 D12): a delivery of any
// item in any status means someone reached the household; 已搬走 is visited, not reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replica } from '../../pwa/js/sync/replica.js';
import { progress } from '../../pwa/js/volunteer/model.js';
import { series } from '../../pwa/js/coord/model.js';
import { vulnerableRows } from '../../pwa/js/coord/vulnerable-list.js';

const N = '0123456789abcdef';
let tick = 0;
function put(r, coll, id, fields) {
  r.applyAll(Object.entries(fields).map(([field, value]) => ({
    coll, id, field, value, hlc: `2026-12-07T14:00:00.000Z-${(tick++).toString(16).padStart(4, '0')}-${N}`,
  })));
}

/** Four vulnerable doors: a heater and no visit, a blanket taken back, moved out, a reached visit. */
function world() {
  const r = new Replica();
  put(r, 'buildings', 'b1', { label: '3号楼' });
  for (const room of ['401', '402', '403', '404']) put(r, 'households', `h${room}`, { building: 'b1', unit: '2', room, vulnerable: ['lone_elderly'] });
  put(r, 'incidents', 'i1', { title: '停暖', buildings: ['b1'], status: 'repairing' });
  put(r, 'deliveries', 'd1', { household: 'h401', incident: 'i1', item: 'heater', qty: 1, status: 'delivered', at: '2026-12-07T14:05:00Z' });
  put(r, 'deliveries', 'd2', { household: 'h402', incident: 'i1', item: 'blanket', qty: 1, status: 'returned', at: '2026-12-07T14:10:00Z' });
  put(r, 'visits', 'v1', { household: 'h403', incident: 'i1', outcome: 'moved', at: '2026-12-07T14:15:00Z', needs: [] });
  put(r, 'visits', 'v2', { household: 'h404', incident: 'i1', outcome: 'reached', at: '2026-12-07T14:20:00Z', needs: [] });
  put(r, 'deliveries', 'd3', { household: 'h404', incident: 'i1', item: 'water', qty: 1, status: 'delivered', at: '2026-12-07T14:30:00Z' });
  return r;
}

test('the vulnerable list marks a door given something as visited and reached, a moved-out one as visited only', () => {
  const r = world();
  const rows = Object.fromEntries(vulnerableRows(r, r.get('incidents', 'i1')).map((x) => [x.hh.room, [x.visited, x.reached]]));
  assert.deepEqual(rows, { 401: [true, true], 402: [true, true], 403: [true, false], 404: [true, true] });
  const p = progress(r, r.get('incidents', 'i1'));
  const reached = Object.values(rows).filter(([, x]) => x).length;
  assert.equal(reached, p.vulnerableReached, 'the list agrees with the counters');
});

test('the reached line of the chart counts deliveries, each door once at its first contact', () => {
  const r = world();
  const s = series(r, r.get('incidents', 'i1'));
  const at = (t) => Date.parse(`2026-12-07T14:${t}:00Z`);
  assert.deepEqual(s.reached, [[at('05'), 1], [at('10'), 2], [at('20'), 3]]);
  assert.equal(s.reached.at(-1)[1], progress(r, r.get('incidents', 'i1')).reached);
});
