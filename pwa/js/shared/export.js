// The last-resort rescue: everything not accepted by the server, as a JSON file the
// volunteer can send to a coordinator by any means (chat, cable, SD card).
import { exportBundle } from '../sync/outbox.js';

/** Collect unsent and rejected entries from the store into the export bundle. */
export async function collectUnsent(store) {
  const [outbox, rejected] = await Promise.all([store.pending(undefined), store.rejectedList()]);
  return exportBundle({
    outbox, rejected, node: store.meta.auth?.node ?? null, person: store.meta.auth?.person ?? null,
    at: new Date().toISOString(),
  });
}

/** Offer `data` as a downloaded file. */
export function download(filename, data) {
  const blob = new Blob([JSON.stringify(data, null, 1)], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
