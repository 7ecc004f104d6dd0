// Release build of the PWA. On Chrome's Slow 3G (2 s a request, 50 kB/s) a first visit costs
// one round trip per wave of requests, so:
//   * index.html (the volunteer app) carries its stylesheet and one minified module of
//     js/app.js and everything it imports inline: the page is one response. The server's
//     Content-Security-Policy allows exactly these two inline blocks by hash
//     (server/guards/security.py), nothing else inline.
//   * every other page (coord, devices, login, resident) loads one minified module from
//     pwa/dist/<page>.js instead of its ~20-40 modules.
// The sources stay plain ES modules in pwa/js/ (node --test imports them; the source maps in
// pwa/dist/ point at them). Last, pwa/sw.js is stamped (pwa/tools/stamp-sw.mjs).
//
//   node tools/build-pwa.mjs            rebuild (after any change under pwa/)
//   node tools/build-pwa.mjs --check    exit 1, naming the files, if the build is not current
//   node tools/build-pwa.mjs --watch    rebuild on every save (development)
//
// esbuild is pinned in tools/package-lock.json: `npm ci --prefix tools` (bash .ci/setup --test).
import { readFileSync, writeFileSync, readdirSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PWA, shell, stamped } from '../pwa/tools/stamp-sw.mjs';

export const COMMAND = 'node tools/build-pwa.mjs';
const DIST = join(PWA, 'dist');

/** Page bundle name → its entry module. `app` is inlined into index.html, the rest are files. */
const ENTRIES = {
  app: 'js/app.js', // index.html: the volunteer app (precached by sw.js)
  coord: 'js/coord/main.js', // coord.html
  devices: 'js/access/devices.js', // devices.html
  login: 'js/access/login.js', // login.html
  setup: 'js/access/setup.js', // setup.html: a coordinator's single-use setup link (#19)
  resident: 'js/resident/main.js', // resident.html
  // The console's first snapshot is stored by a worker (sync/snapshot.js finds it beside
  // the bundle that imports it: new URL('./store-worker.js', import.meta.url)).
  'store-worker': 'js/sync/store-worker.js',
};
const INLINE_CSS = 'css/app.css';
const MARKERS = /  <!-- inline:start[\s\S]*?<!-- inline:end -->/;

async function loadEsbuild() {
  try {
    return await import('esbuild');
  } catch {
    console.error('esbuild is not installed: run `npm ci --prefix tools` (or bash .ci/setup --test)');
    process.exit(2);
  }
}

function options() {
  return {
    entryPoints: Object.entries(ENTRIES).map(([out, src]) => ({ in: join(PWA, src), out })),
    outdir: DIST,
    bundle: true,
    format: 'esm',
    minify: true,
    target: 'esnext', // the sources' own syntax: the build changes packaging, not the language
    charset: 'utf8', // Chinese strings as UTF-8, not \u escapes (module scripts are UTF-8)
    legalComments: 'none',
    sourcemap: 'linked',
    sourcesContent: false, // the maps point at /js/…, which the server serves as they are
    write: false,
    logLevel: 'warning',
  };
}

/** index.html with the stylesheet and the app's module inlined between its markers. */
export function inlined(html, { css, js }) {
  for (const [tag, text] of [['style', css], ['script', js]]) {
    if (new RegExp(`</${tag}|<!--`, 'i').test(text)) throw new Error(`inlined ${tag} contains </${tag} or <!--`);
  }
  if (!MARKERS.test(html)) throw new Error('index.html lacks <!-- inline:start --> … <!-- inline:end -->');
  const block = [
    `  <!-- inline:start: ${INLINE_CSS} and ${ENTRIES.app} with all it imports, written by ${COMMAND} -->`,
    `  <style>${css}</style>`,
    `  <script type="module">${js}</script>`,
    '  <!-- inline:end -->',
  ].join('\n');
  return html.replace(MARKERS, () => block);
}

/** Everything the build writes: path under pwa/ → bytes. */
async function outputs(esbuild) {
  const result = await esbuild.build(options());
  const files = new Map();
  let js = null;
  for (const f of result.outputFiles) {
    const path = relative(PWA, f.path).split('\\').join('/');
    if (path === 'dist/app.js') js = f.text.replace(/\/\/# sourceMappingURL=app\.js\.map\s*$/, '//# sourceMappingURL=/dist/app.js.map');
    else files.set(path, Buffer.from(f.contents));
  }
  const source = readFileSync(join(PWA, INLINE_CSS), 'utf8');
  const css = (await esbuild.transform(source, { loader: 'css', minify: true, charset: 'utf8' })).code.trim();
  const index = inlined(readFileSync(join(PWA, 'index.html'), 'utf8'), { css, js: js.trim() });
  files.set('index.html', Buffer.from(index));
  files.set('sw.js', Buffer.from(stamped(readFileSync(join(PWA, 'sw.js'), 'utf8'), shell(PWA, files))));
  return files;
}

async function build(esbuild) {
  const files = await outputs(esbuild);
  rmSync(DIST, { recursive: true, force: true });
  mkdirSync(DIST, { recursive: true });
  for (const [path, bytes] of files) writeFileSync(join(PWA, path), bytes);
  const { version, urls } = shell();
  const kb = (p) => `${(files.get(p).length / 1000).toFixed(1)} kB`;
  console.log(`index.html ${kb('index.html')} (inline app); pwa/dist: ${readdirSync(DIST).length} files; sw.js: version ${version}, ${urls.length} files`);
}

/** Build in memory and compare with what is committed; list what differs. */
async function check(esbuild) {
  const files = await outputs(esbuild);
  const stale = [];
  for (const [path, bytes] of files) {
    const file = join(PWA, path);
    if (!existsSync(file) || !readFileSync(file).equals(bytes)) stale.push(`pwa/${path}`);
  }
  for (const name of existsSync(DIST) ? readdirSync(DIST) : []) {
    if (!files.has(`dist/${name}`)) stale.push(`pwa/dist/${name} (not built any more)`);
  }
  if (stale.length) {
    console.error(`the PWA build is not current; run: ${COMMAND}\n  ${stale.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`the PWA build is current (${files.size} files)`);
}

async function watch(esbuild) {
  const again = () => build(esbuild).catch((err) => console.error(err.message));
  const ctx = await esbuild.context({
    entryPoints: [...Object.values(ENTRIES), INLINE_CSS].map((p) => join(PWA, p)),
    bundle: true,
    write: false,
    logLevel: 'warning',
    outdir: join(PWA, '.watch'),
    plugins: [{ name: 'rebuild', setup: (b) => b.onEnd((r) => { if (!r.errors.length) again(); }) }],
  });
  await ctx.watch();
  console.log('watching pwa/js and pwa/css … (Ctrl-C to stop)');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const esbuild = await loadEsbuild();
  const mode = process.argv[2];
  if (mode === '--check') await check(esbuild);
  else if (mode === '--watch') await watch(esbuild);
  else await build(esbuild);
}
