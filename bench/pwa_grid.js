// bench/pwa_weight.py: render a 2,000-household grid vs bare buttons (page.evaluate body).
(async (n) => {
  const { Replica } = await import('/js/sync/replica.js');
  const { gridOf } = await import('/js/volunteer/incident-grid.js');
  const { incidentScope } = await import('/js/volunteer/model.js');
  const r = new Replica();
  const N = '0123456789abcdef';
  let k = 0;
  const hlc = () => `2026-11-22T14:00:00.000Z-${(k++ % 65536).toString(16).padStart(4, '0')}-${N}`;
  const ch = [];
  const buildings = [];
  for (let b = 0; b < Math.ceil(n / 100); b++) {
    buildings.push(`b${b}`);
    ch.push({ coll: 'buildings', id: `b${b}`, field: 'label', value: `55号院${b + 1}号楼`, hlc: hlc() });
  }
  for (let i = 0; i < n; i++) {
    const id = `h${i}`;
    ch.push({ coll: 'households', id, field: 'building', value: `b${Math.floor(i / 100)}`, hlc: hlc() });
    ch.push({ coll: 'households', id, field: 'unit', value: String(1 + Math.floor((i % 100) / 25)), hlc: hlc() });
    ch.push({ coll: 'households', id, field: 'room', value: String(101 + (i % 25)), hlc: hlc() });
    if (i % 3 === 0) {
      ch.push({ coll: 'visits', id: `v${i}`, field: 'household', value: id, hlc: hlc() });
      ch.push({ coll: 'visits', id: `v${i}`, field: 'incident', value: 'inc', hlc: hlc() });
      ch.push({ coll: 'visits', id: `v${i}`, field: 'outcome', value: i % 2 ? 'reached' : 'not_home', hlc: hlc() });
    }
  }
  ch.push({ coll: 'incidents', id: 'inc', field: 'buildings', value: buildings, hlc: hlc() });
  r.applyAll(ch);
  const host = document.getElementById('view');
  const time = (fn) => { const t0 = performance.now(); const el = fn(); host.replaceChildren(el); void host.offsetHeight; return performance.now() - t0; };
  const app = [], base = [];
  for (let rep = 0; rep < 5; rep++) {
    app.push(time(() => gridOf(r, 'inc', incidentScope(r, r.get('incidents', 'inc')))));
    base.push(time(() => {
      const f = document.createElement('div');
      for (let i = 0; i < n; i++) { const b = document.createElement('button'); b.textContent = String(101 + (i % 25)); f.append(b); }
      return f;
    }));
  }
  const med = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { app: med(app), base: med(base), tiles: host.querySelectorAll('button').length };
})
