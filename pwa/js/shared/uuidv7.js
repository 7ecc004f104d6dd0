// UUIDv7 (RFC 9562): 48-bit Unix ms, version 7, 12 random bits, variant 10, 62 random bits.
// Time-ordered, so ids of records made on one phone sort by creation.

/**
 * @param {number} [ms] Unix time in ms (the app passes its server-corrected clock).
 * @param {(a: Uint8Array) => Uint8Array} [fill] random source, injectable for tests.
 * @returns {string} e.g. "0193a1c2-7d4e-7c3b-9a2f-1b2c3d4e5f60"
 */
export function uuidv7(ms = Date.now(), fill = (a) => crypto.getRandomValues(a)) {
  const b = fill(new Uint8Array(16));
  let t = Math.max(0, Math.floor(ms));
  for (let i = 5; i >= 0; i--) { b[i] = t % 256; t = Math.floor(t / 256); }
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
