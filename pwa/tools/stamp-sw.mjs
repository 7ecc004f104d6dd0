// Write the precache list and version into pwa/sw.js. Run after changing any shell file:
//   node pwa/tools/stamp-sw.mjs
// The version is a hash of the shell's bytes, so an unchanged shell keeps its cache and a
// changed one makes browsers install the new worker (and show "update available").
import { readFileSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PWA = join(dirname(fileURLToPath(import.meta.url)), '..');
/** What the volunteer app needs offline. Other pages (coord/, resident/) are not precached. */
const ROOTS = ['index.html', 'manifest.webmanifest', 'css/app.css', 'icons', 'js/app.js', 'js/shared', 'js/sync', 'js/i18n', 'js/volunteer'];
const SKIP = /(^|\/)\.|\.md$/;

function walk(path) {
  if (statSync(path).isDirectory()) return readdirSync(path).sort().flatMap((n) => walk(join(path, n)));
  return [path];
}

/** The shell: sorted URL paths and the version hash of their contents. */
export function shell(root = PWA) {
  const files = ROOTS.flatMap((r) => walk(join(root, r))).filter((f) => !SKIP.test(relative(root, f))).sort();
  const hash = createHash('sha256');
  for (const f of files) { hash.update(relative(root, f)); hash.update('\0'); hash.update(readFileSync(f)); }
  const urls = [...files.map((f) => `/${relative(root, f).split('\\').join('/')}`)];
  return { urls, version: hash.digest('hex').slice(0, 12) };
}

const IMPORT = /(?:^|[;\n])\s*(?:import|export)\s[^'"`;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|(?:^|[;\n])\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/g;

/** Every module reachable from `entry` by static imports, as sorted URL paths. */
export function moduleGraph(entry = 'js/app.js', root = PWA) {
  const seen = new Set();
  const visit = (rel) => {
    if (seen.has(rel)) return;
    seen.add(rel);
    const src = readFileSync(join(root, rel), 'utf8');
    for (const m of src.matchAll(IMPORT)) {
      const spec = m[1] || m[2];
      visit(relative(root, join(root, dirname(rel), spec)).split('\\').join('/'));
    }
  };
  visit(entry);
  return [...seen].sort().map((r) => `/${r}`);
}

/**
 * index.html with one <link rel="modulepreload"> per module of the app: the browser then
 * fetches the whole graph at once instead of one import level per round trip, which on a
 * slow, high-latency link is most of the first load.
 */
export function preloaded(html, modules) {
  const links = modules.map((u) => `  <link rel="modulepreload" href="${u}">`).join('\n');
  return html.replace(
    /  <!-- modulepreload:start -->[\s\S]*?<!-- modulepreload:end -->/,
    `  <!-- modulepreload:start -->\n${links}\n  <!-- modulepreload:end -->`,
  );
}

/** Pages and the entry module whose graph each preloads. */
export const PAGES = [['index.html', 'js/app.js'], ['coord.html', 'js/coord/main.js']];

/** sw.js with VERSION and SHELL replaced. */
export function stamped(source, { urls, version }) {
  return source
    .replace(/^const VERSION = .*;$/m, `const VERSION = '${version}';`)
    .replace(/^const SHELL = [^;]*;$/m, `const SHELL = ${JSON.stringify(urls, null, 2)};`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Each page with a module entry gets its own preload list (#12: the dashboard's graph
  // is as deep as the volunteer app's).
  for (const [page, entry] of PAGES) {
    const file = join(PWA, page);
    const modules = moduleGraph(entry);
    writeFileSync(file, preloaded(readFileSync(file, 'utf8'), modules));
    console.log(`${page}: ${modules.length} modules preloaded`);
  }
  const sw = join(PWA, 'sw.js');
  const s = shell();
  writeFileSync(sw, stamped(readFileSync(sw, 'utf8'), s));
  console.log(`sw.js: version ${s.version}, ${s.urls.length} files`);
}
