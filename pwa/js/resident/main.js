// Entry of the residents' page /r/<token>: fetch the public view, then follow it live.
// The token in the path is the link's capability; the stream is public, so plain
// EventSource is fine (it resumes with Last-Event-ID by itself).
import { mount } from '../shared/dom.js';
import { getLang, setLang, onLangChange } from '../shared/i18n.js';
import { toast } from '../shared/toast.js';
import { rt } from './strings.js';
import { residentView, messageView } from './view.js';
import { digest } from './digest.js';
import { pushState, subscribe, unsubscribe } from './push.js';

const token = decodeURIComponent(location.pathname.replace(/^\/r\//, '').split('/')[0]);
const api = `/api/v1/public/${encodeURIComponent(token)}`;
const view = document.getElementById('view');
const live = document.getElementById('live');
const langBtn = document.getElementById('lang');
const cacheKey = `doorstep.public.${token}`;
let current = null;
let pushKey = '';
let push = pushState(token);

function render() {
  document.documentElement.lang = getLang();
  document.title = current?.title ? `${current.title} · ${rt('title')}` : rt('title');
  langBtn.textContent = getLang() === 'en' ? '中文' : 'English';
  if (!current) return;
  mount(view, residentView(current, { onCopy: copy, onPush: togglePush, pushState: push }));
}

function setLive(state) {
  live.textContent = rt(state);
  live.dataset.state = state;
}

function show(p) {
  current = p;
  try { localStorage.setItem(cacheKey, JSON.stringify(p)); } catch { /* best effort */ }
  render();
}

async function copy() {
  const text = digest(current, location.href.split('#')[0]);
  try {
    await navigator.clipboard.writeText(text);
    toast(rt('copied'), { kind: 'ok' });
  } catch {
    toast(rt('copyFailed'), { kind: 'warn', ms: 6000 });
    const box = document.createElement('textarea');
    box.className = 'r-digest';
    box.readOnly = true;
    box.value = text;
    view.append(box);
    box.select();
  }
}

async function togglePush() {
  try {
    push = push === 'on' ? await unsubscribe(token) : await subscribe(token, pushKey);
    if (push === 'denied') { toast(rt('pushDenied'), { kind: 'warn', ms: 6000 }); push = 'off'; }
    else toast(rt(push === 'on' ? 'pushOn' : 'pushOff'), { kind: 'ok' });
  } catch (err) {
    console.error('[doorstep] push', err);
    toast(rt('pushFailed'), { kind: 'error' });
  }
  render();
}

async function start() {
  langBtn.addEventListener('click', () => setLang(getLang() === 'en' ? 'zh-CN' : 'en'));
  onLangChange(render);
  setLive('connecting');
  try {
    const res = await fetch(api, { cache: 'no-store' });
    if (res.status === 404) { mount(view, messageView(rt('badLink'))); setLive('lost'); return; }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const p = await res.json();
    pushKey = p.push_key;
    show(p);
  } catch (err) {
    console.error('[doorstep] public view', err);
    try { current = JSON.parse(localStorage.getItem(cacheKey) || 'null'); } catch { current = null; }
    if (current) render();
    toast(rt('offline'), { kind: 'warn', ms: 6000 });
  }
  const source = new EventSource(`${api}/events`);
  source.addEventListener('open', () => setLive('live'));
  source.addEventListener('error', () => setLive(source.readyState === EventSource.CLOSED ? 'lost' : 'connecting'));
  source.addEventListener('public', (ev) => {
    setLive('live');
    const { progress } = JSON.parse(ev.data);
    show({ ...progress, push_key: pushKey });
  });
  render();
}

start();
