// Server-Sent Events over fetch(): the coordinator stream needs an Authorization header
// (or, after a password login, the session cookie), which EventSource cannot send (and a
// token must never go into a URL). The parser is
// pure, so node --test checks it; LiveStream adds reconnecting with Last-Event-ID.

/**
 * Parse complete events out of `text`; returns them and the unparsed rest.
 * @param {string} text
 * @returns {{events: Array<{id?: string, event: string, data: string, retry?: number}>, rest: string}}
 */
export function parseSSE(text) {
  const events = [];
  const blocks = text.split(/\r\n\r\n|\n\n|\r\r/);
  const rest = blocks.pop();
  for (const block of blocks) {
    const ev = { event: 'message', data: [] };
    let any = false;
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'data') { ev.data.push(value); any = true; }
      else if (field === 'event') ev.event = value;
      else if (field === 'id') ev.id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) ev.retry = Number(value);
    }
    if (any || ev.retry !== undefined) events.push({ ...ev, data: ev.data.join('\n') });
  }
  return { events, rest };
}

export class LiveStream {
  /**
   * @param {{url: string, token: () => string, lastId: () => string|null,
   *   onEvent: (ev) => void, onState: (s: 'live'|'reconnecting'|'off', err?) => void,
   *   fetch?: typeof fetch}} opts
   */
  constructor(opts) {
    this.o = opts;
    this.retry = 2000;
    this.failures = 0;
    this.stopped = false;
    this.ctrl = null;
    this.lastId = null;
  }

  start() { this.stopped = false; this.#connect(); }

  stop() { this.stopped = true; this.ctrl?.abort(); clearTimeout(this.timer); }

  async #connect() {
    const { url, token, onEvent, onState, fetch: f = globalThis.fetch } = this.o;
    this.ctrl = new AbortController();
    const id = this.lastId ?? this.o.lastId();
    // No token: a password session, whose cookie fetch sends by itself (same origin).
    const bearer = token();
    const headers = { accept: 'text/event-stream' };
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    if (id !== null && id !== undefined) headers['last-event-id'] = String(id);
    try {
      const res = await f(url, { headers, signal: this.ctrl.signal, cache: 'no-store', credentials: 'same-origin' });
      if (res.status === 401 || res.status === 403) { onState('off', res.status); this.stopped = true; return; }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      onState('live');
      this.failures = 0;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const { events, rest } = parseSSE(buf + value);
        buf = rest;
        for (const ev of events) {
          if (ev.retry !== undefined) this.retry = ev.retry;
          if (ev.id !== undefined) this.lastId = ev.id;
          if (ev.data) onEvent(ev);
        }
      }
    } catch (err) {
      if (this.stopped) return;
      this.failures += 1;
      console.warn('[doorstep] live stream', err);
    }
    if (this.stopped) return;
    onState('reconnecting');
    const delay = Math.min(30000, this.retry * 2 ** Math.min(this.failures, 4));
    this.timer = setTimeout(() => this.#connect(), delay);
  }
}
