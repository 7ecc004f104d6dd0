// The offline shell: the service worker precaches exactly the current files (its VERSION
// is their hash); index.html carries the app inline (one module that imports nothing, and
// its stylesheet) and every other page loads one bundle from pwa/dist/; nothing else is
// inline, nor uses what the Content-Security-Policy would block (handlers, style
// attributes, eval). That the build is current is tests/test_pwa_build.py (needs esbuild).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname, posix } from 'node:path';
import { shell, PWA } from '../../pwa/tools/stamp-sw.mjs';

const sw = readFileSync(join(PWA, 'sw.js'), 'utf8');

test('sw.js precaches the current shell under a version that is its hash', () => {
  const { urls, version } = shell();
  const declared = JSON.parse(sw.match(/^const SHELL = ([^;]*);$/m)[1]);
  const v = sw.match(/^const VERSION = '([^']*)';$/m)[1];
  assert.deepEqual(declared, urls, 'run: node tools/build-pwa.mjs');
  assert.equal(v, version, 'shell files changed since sw.js was stamped; run: node tools/build-pwa.mjs');
});

const PAGES = {
  'coord.html': '/dist/coord.js',  // after /js/coord/prefetch.js (below)
  'devices.html': '/dist/devices.js',
  'login.html': '/dist/login.js',
  'resident.html': '/dist/resident.js',
};
const index = readFileSync(join(PWA, 'index.html'), 'utf8');
const INLINE = /  <!-- inline:start[^\n]*-->\n  <style>([^<]*)<\/style>\n  <script type="module">([\s\S]*?)<\/script>\n  <!-- inline:end -->/;

test('every page but index.html loads one module, its bundle from pwa/dist/', () => {
  for (const [page, bundle] of Object.entries(PAGES)) {
    const html = readFileSync(join(PWA, page), 'utf8');
    const scripts = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]);
    const early = page === 'coord.html' ? ['/js/coord/prefetch.js'] : [];
    assert.deepEqual(scripts, [...early, bundle], `${page} loads ${bundle} only`);
    assert.ok(existsSync(join(PWA, bundle)), `${bundle} is missing; run: node tools/build-pwa.mjs`);
  }
});

test('index.html is the whole app in one response: its stylesheet and one module inline, importing nothing', () => {
  const m = index.match(INLINE);
  assert.ok(m, 'index.html lacks the inlined app; run: node tools/build-pwa.mjs');
  const [, css, js] = m;
  assert.match(css, /\.topbar\{/);
  assert.doesNotMatch(js, /\bimport\s*\(|\bimport\s*["']|\bfrom\s*["']/, 'the module imports another file');
  assert.match(js, /入户走访/, 'Chinese strings are in the module as they are');
  assert.doesNotMatch(index, /<script\b[^>]*\bsrc=|<link rel="(stylesheet|modulepreload)"/, 'nothing else to fetch before the form');
  const { urls } = shell();
  for (const u of ['/index.html', '/manifest.webmanifest', '/icons/icon-192.png', '/icons/icon-512.png']) {
    assert.ok(urls.includes(u), u);
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

test('nothing uses what the CSP forbids: other inline scripts or styles, on* handlers, style attributes, eval', () => {
  const outside = index.replace(INLINE, '');
  assert.doesNotMatch(outside, /<script(?![^>]*\bsrc=)[^>]*>|<style\b/, 'inline <script> or <style> besides the built ones');
  assert.doesNotMatch(outside, /\son[a-z]+\s*=/i, 'inline event handler');
  assert.doesNotMatch(outside, /\sstyle\s*=/i, 'style attribute');
  const [, , app] = index.match(INLINE);
  const bundles = Object.values(PAGES).map((url) => [url, readFileSync(join(PWA, url), 'utf8')]);
  for (const [url, src] of [['index.html', app], ...bundles]) {
    assert.doesNotMatch(src, /\beval\(|new Function\(/, `${url}: eval`);
    assert.doesNotMatch(src, /innerHTML\s*=|insertAdjacentHTML|setAttribute\(\s*['"]style/, `${url}: HTML strings or style attributes`);
  }
});

test('both dictionaries have the same keys', async () => {
  const zh = (await import('../../pwa/js/i18n/zh-CN.js')).default;
  const en = (await import('../../pwa/js/i18n/en.js')).default;
  assert.deepEqual(Object.keys(en).sort(), Object.keys(zh).sort());
});

test('coord.html asks for its snapshot before its bundle has loaded, with a module that imports nothing (#12)', () => {
  const src = readFileSync(join(PWA, 'js/coord/prefetch.js'), 'utf8');
  assert.doesNotMatch(src, /\bimport\s*\(|\bimport\s*["']|\bfrom\s*["']/);
  assert.match(src, /\/api\/v1\/snapshot/);
});

test('the status line says nothing until the app has worded it: no 离线 in English, none beside 实时 (#22 D19)', () => {
  for (const page of ['index.html', 'coord.html']) {
    const html = readFileSync(join(PWA, page), 'utf8');
    const el = html.match(/<div id="status"[^>]*>([^<]*)<\/div>/);
    assert.ok(el, `${page} has its status line`);
    assert.equal(el[1].trim(), '', `${page}: the status line is rendered by the app, in its language`);
  }
});
