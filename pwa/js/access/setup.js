// A coordinator's single-use setup link (/setup.html#CODE, printed by `doorstep serve` on
// an empty database or made on the console's 人员 page): set a login and password, then
// sign in with them and open the console. The code rides in the fragment: no server log
// or Referer sees it.
import { call, login } from './session.js';
import { at, wordPage } from './words.js';

const form = document.getElementById('setup');
const msg = document.getElementById('msg');
const code = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
wordPage('pageSetup');

function fail(text) {
  msg.textContent = text;
  msg.className = 'enroll-msg error-box';
}

if (!code) fail(at('setupNoCode'));

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const data = new FormData(form);
  const password = String(data.get('password'));
  if (password !== String(data.get('again'))) { fail(at('passwordsDiffer')); return; }
  msg.className = 'enroll-msg';
  msg.textContent = at('settingUp');
  const name = String(data.get('login')).trim();
  try {
    await call('POST', '/api/v1/setup', { code, login: name, password, name: String(data.get('name')).trim() });
    await login(name, password);
    location.assign('/coord.html');
  } catch (err) {
    fail(at(`setupError.${err.code}`) === `setupError.${err.code}` ? at('setupFailed', { msg: err.message }) : at(`setupError.${err.code}`));
  }
});
