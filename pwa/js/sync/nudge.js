// Live while online: the server's nudge stream (GET /api/v1/nudges) says "something you
// may read changed" and the phone answers with an ordinary sync. The stream carries no
// data at all, so it can never hold anything the device may not (docs/live.md). Read with
// fetch(), not EventSource, because the token goes in a header, never in a URL.
// Offline nothing changes: no stream, the sync loop's timers and triggers as before.

/** Whether `text` (SSE, possibly several events) holds a `changed` event; and the rest. */
export function scanNudges(text) {
  const blocks = text.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  const changed = blocks.some((b) => b.split(/\r?\n/).includes('event: changed'));
  return { changed, rest };
}

export class NudgeStream {
  /**
   * @param {{url?: string, token: () => string|undefined, onNudge: () => void,
   *   fetch?: typeof fetch, retryMs?: number}} opts
   */
  constructor(opts) {
    this.o = { url: '/api/v1/nudges', retryMs: 3000, ...opts };
    this.ctrl = null;
    this.timer = null;
    this.stopped = true;
  }

  /** (Re)connect now, e.g. when the phone comes online or its scope changed. */
  restart() {
    this.stop();
    this.stopped = false;
    this.#connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ctrl?.abort();
    this.ctrl = null;
  }

  async #connect() {
    const { url, token, onNudge, fetch: f = globalThis.fetch.bind(globalThis) } = this.o;
    const bearer = token();
    if (!bearer || this.stopped) return;
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    try {
      const res = await f(url, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${bearer}` },
        signal: ctrl.signal, cache: 'no-store',
      });
      // Not allowed (revoked, unknown): the sync loop handles that; no retry storm here.
      if (res.status === 401 || res.status === 403) { this.stopped = true; return; }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const { changed, rest } = scanNudges(buf + value);
        buf = rest;
        if (changed) onNudge();
      }
    } catch (err) {
      if (ctrl.signal.aborted) return;
    }
    if (this.ctrl === ctrl && !this.stopped) {
      this.timer = setTimeout(() => { if (!this.stopped) this.#connect(); }, this.o.retryMs);
    }
  }
}
