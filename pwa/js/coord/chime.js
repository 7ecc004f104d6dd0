// An optional sound for new field reports (off by default; the choice is remembered).
// WebAudio needs a user gesture first, which the switch itself provides.
import { h } from '../shared/dom.js';
import { ct } from './strings.js';

const KEY = 'doorstep.chime';
let audio = null;

const enabled = () => { try { return localStorage.getItem(KEY) === 'on'; } catch { return false; } };

export function chime() {
  if (!enabled()) return;
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.6);
  } catch { /* no audio on this device: the visible alert stays */ }
}

export function soundToggle() {
  const btn = h('button.small-btn.sound', { type: 'button', 'aria-pressed': String(enabled()) }, ct(enabled() ? 'soundOn' : 'soundOff'));
  btn.addEventListener('click', () => {
    const on = !enabled();
    try { localStorage.setItem(KEY, on ? 'on' : 'off'); } catch { /* memory only */ }
    btn.setAttribute('aria-pressed', String(on));
    btn.textContent = ct(on ? 'soundOn' : 'soundOff');
    if (on) chime();
  });
  return btn;
}
