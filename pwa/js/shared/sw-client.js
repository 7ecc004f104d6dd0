// Service worker registration and its two user-facing messages: "ready to work offline"
// the first time the shell is cached, and "update available — reload" when a new version
// waits. Without service workers (WeChat's in-app browser) the app says offline needs a
// real browser and keeps working online.
import { t } from './i18n.js';
import { toast } from './toast.js';

/**
 * @param {{onState?: (s: 'none'|'installing'|'ready'|'update') => void, onSyncRequest?: () => void}} hooks
 */
export async function registerServiceWorker({ onState = () => {}, onSyncRequest = () => {} } = {}) {
  if (!('serviceWorker' in navigator)) {
    onState('none');
    toast(t('sw.none'), { kind: 'warn', ms: 10000 });
    return null;
  }
  const sw = navigator.serviceWorker;
  const hadController = Boolean(sw.controller);
  let reloading = false;
  sw.addEventListener('controllerchange', () => {
    // First install claims the page: nothing to reload. Later, a new version took over
    // because the user asked for it: reload once to run the new shell.
    if (hadController && !reloading) { reloading = true; location.reload(); }
  });
  sw.addEventListener('message', (e) => {
    if (e.data?.type === 'sync') onSyncRequest();
  });
  let reg;
  try {
    reg = await sw.register('/sw.js', { scope: '/' });
  } catch (err) {
    console.error('[doorstep] service worker registration failed', err);
    onState('none');
    return null;
  }
  const offerUpdate = (worker) => {
    onState('update');
    toast(t('sw.update'), {
      kind: 'info', ms: 0,
      action: { label: '↻', run: () => worker.postMessage({ type: 'skip-waiting' }) },
    });
  };
  if (reg.waiting && hadController) offerUpdate(reg.waiting);
  reg.addEventListener('updatefound', () => {
    const worker = reg.installing;
    onState('installing');
    worker?.addEventListener('statechange', () => {
      if (worker.state === 'installed') {
        if (hadController) offerUpdate(worker);
      } else if (worker.state === 'activated' && !hadController) {
        onState('ready');
        toast(t('sw.ready'), { kind: 'ok' });
      }
    });
  });
  if (reg.active && hadController) onState('ready');
  else if (reg.active && !reg.installing) onState('ready');
  return reg;
}

/** Ask for Background Sync (Chromium): the worker wakes the app when the network returns. */
export async function requestBackgroundSync() {
  try {
    const reg = await navigator.serviceWorker?.ready;
    await reg?.sync?.register('doorstep-sync');
  } catch { /* not supported or not allowed: the online event and the timer still sync */ }
}
