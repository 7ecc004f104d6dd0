// The running app's shared objects, set once by the entry module (app.js for volunteers;
// the coordinator and resident pages may set their own). Screens read from here instead
// of importing the entry module, which keeps them free of start-up side effects.
export const ctx = {
  /** @type {import('../sync/idb-store.js').IdbStore|null} */
  store: null,
  /** @type {import('../sync/loop.js').SyncLoop|null} */
  loop: null,
  /** Called after every local write (the app nudges the sync loop). */
  afterWrite: null,
  /** Latest sync-loop state, for the status line and settings. */
  syncState: null,
  swState: 'unknown',
  persistent: null,
};
