// The offline shell: the service worker precaches exactly the current files (its VERSION
// is their hash), every module the app imports is precached, and no shell file carries
// what the Content-Security-Policy would block (inline scripts, handlers, style attributes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname, posix } from 'node:path';
import { shell, moduleGraph, PWA } from '../../pwa/tools/stamp-sw.mjs';

const sw = readFileSync(join(PWA, 'sw.js'), 'utf8');

test('sw.js precaches the current shell under a version that is its hash', () => {
  const { urls, version } = shell();
  const declared = JSON.parse(sw.match(/^const SHELL = ([^;]*);$/m)[1]);
  const v = sw.match(/^const VERSION = '([^']*)';$/m)[1];
  assert.deepEqual(declared, urls, 'run: node pwa/tools/stamp-sw.mjs');
  assert.equal(v, version, 'shell files changed since sw.js was stamped; run: node pwa/tools/stamp-sw.mjs');
});

test('index.html preloads every module of the app, so a slow link fetches them at once', () => {
  const html = readFileSync(join(PWA, 'index.html'), 'utf8');
  const preloaded = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]);
  assert.deepEqual(preloaded, moduleGraph(), 'run: node pwa/tools/stamp-sw.mjs');
  assert.ok(preloaded.includes('/js/sync/clock.js') && preloaded.length > 20);
});

test('every module reachable from the entry point is precached', () => {
  const { urls } = shell();
  const cached = new Set(urls);
  const seen = new Set();
  const queue = ['/js/app.js'];
  while (queue.length) {
    const url = queue.pop();
    if (seen.has(url)) continue;
    seen.add(url);
    assert.ok(cached.has(url), `${url} is imported but not precached`);
    const src = readFileSync(join(PWA, url), 'utf8');
    for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = m[1] || m[2];
      queue.push(posix.normalize(posix.join(posix.dirname(url), spec)));
    }
  }
  assert.ok(seen.size > 10);
  for (const u of ['/index.html', '/manifest.webmanifest', '/css/app.css', '/icons/icon-192.png', '/icons/icon-512.png']) {
    assert.ok(cached.has(u), u);
  }
});

test('the manifest is installable: name, start_url, standalone, 192 and 512 PNG icons that exist', () => {
  const m = JSON.parse(readFileSync(join(PWA, 'manifest.webmanifest'), 'utf8'));
  assert.ok(m.name && m.short_name);
  assert.equal(m.start_url, '/');
  assert.equal(m.display, 'standalone');
  for (const size of ['192x192', '512x512']) {
    const icon = m.icons.find((i) => i.sizes === size && i.type === 'image/png');
    assert.ok(icon, size);
    const png = readFileSync(join(PWA, icon.src));
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    assert.equal(png.readUInt32BE(16), Number(size.split('x')[0]));
  }
});

test('no shell file uses what the CSP forbids: inline scripts, on* handlers, style attributes, eval', () => {
  const html = readFileSync(join(PWA, 'index.html'), 'utf8');
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'inline <script>');
  assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'inline event handler');
  assert.doesNotMatch(html, /\sstyle\s*=/i, 'style attribute');
  for (const url of shell().urls.filter((u) => u.endsWith('.js'))) {
    const src = readFileSync(join(PWA, url), 'utf8');
    assert.doesNotMatch(src, /\beval\(|new Function\(/, `${url}: eval`);
    assert.doesNotMatch(src, /innerHTML\s*=|insertAdjacentHTML|setAttribute\(\s*['"]style/, `${url}: HTML strings or style attributes`);
  }
  assert.ok(existsSync(join(PWA, 'js/app.js')));
});

test('both dictionaries have the same keys', async () => {
  const zh = (await import('../../pwa/js/i18n/zh-CN.js')).default;
  const en = (await import('../../pwa/js/i18n/en.js')).default;
  assert.deepEqual(Object.keys(en).sort(), Object.keys(zh).sort());
});

test('coord.html preloads every module of the dashboard (#12)', () => {
  const html = readFileSync(join(PWA, 'coord.html'), 'utf8');
  const preloaded = [...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map((m) => m[1]);
  assert.deepEqual(preloaded, moduleGraph('js/coord/main.js'), 'run: node pwa/tools/stamp-sw.mjs');
  assert.ok(preloaded.includes('/js/sync/snapshot.js'));
});
