// Coordinator login page: on success go to the page that sent us here (same origin only).
import { login } from './session.js';
import { at, wordPage } from './words.js';

const form = document.getElementById('login');
const msg = document.getElementById('msg');
wordPage('pageLogin');

function nextPage() {
  const next = new URLSearchParams(location.search).get('next') || '/coord.html';
  // Only paths on this site: never an open redirect.
  return /^\/(?!\/)[A-Za-z0-9_./?=&#-]*$/.test(next) ? next : '/coord.html';
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const data = new FormData(form);
  msg.textContent = at('loggingIn');
  try {
    await login(String(data.get('login')), String(data.get('password')));
    location.assign(nextPage());
  } catch (err) {
    // err.message is the page's words for the server's code (login_failed, rate_limited…).
    msg.textContent = err.status === 429 ? err.message : at('loginFailed', { msg: err.message });
    msg.className = 'enroll-msg error-box';
  }
});
