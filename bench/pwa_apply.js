// bench/pwa_weight.py: IdbStore.commit of 20,000 pulled changes vs raw bulk put (page.evaluate body).
(async (n) => {
  const { IdbStore } = await import('/js/sync/idb-store.js');
  const N = 'fedcba9876543210';
  const changes = [];
  for (let i = 0; i < n; i++) {
    const c = (i % 65536).toString(16).padStart(4, '0');
    const ms = new Date(Date.UTC(2026, 10, 22, 14, 0, 0, Math.floor(i / 65536))).toISOString();
    changes.push({ coll: 'households', id: `h${Math.floor(i / 4)}`, field: ['building', 'unit', 'room', 'occupants'][i % 4], value: `v${i}`, hlc: `${ms}-${c}-${N}` });
  }
  const del = (name) => new Promise((res) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = r.onerror = r.onblocked = () => res(); });
  await del('bench-raw'); await del('bench-app');
  // Baseline: one transaction of raw puts into an object store with the same key path.
  const raw = await new Promise((res, rej) => {
    const r = indexedDB.open('bench-raw', 1);
    r.onupgradeneeded = () => r.result.createObjectStore('fields', { keyPath: ['coll', 'id', 'field'] });
    r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error);
  });
  let t0 = performance.now();
  await new Promise((res, rej) => {
    const tx = raw.transaction('fields', 'readwrite', { durability: 'strict' });
    const s = tx.objectStore('fields');
    for (const c of changes) s.put(c);
    tx.oncomplete = res; tx.onerror = () => rej(tx.error);
  });
  const rawMs = performance.now() - t0;
  raw.close();
  const store = await IdbStore.open('bench-app');
  t0 = performance.now();
  await store.commit({ accepted: [], rejected: [], pulled: changes, cursor: n, offset: null, at: Date.now() });
  const appMs = performance.now() - t0;
  const held = store.replica.all('households').length;
  store.db.close();
  await del('bench-raw'); await del('bench-app');
  return { raw: rawMs, app: appMs, records: held };
})
