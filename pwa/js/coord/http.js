// Authenticated GETs for the dashboard (the bearer token goes in a header, never a URL).
import { ApiError, NetworkError, postJson } from '../shared/api.js';
import { ctx } from '../shared/context.js';

export async function getJson(path) {
  let res;
  try {
    res = await fetch(path, { headers: { authorization: `Bearer ${ctx.store.meta.auth?.token}` }, cache: 'no-store' });
  } catch (err) {
    throw new NetworkError(err);
  }
  let data = null;
  try { data = await res.json(); } catch { /* handled below */ }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export async function post(path, body = {}) {
  const { data } = await postJson(path, body, { token: ctx.store.meta.auth?.token });
  return data;
}
