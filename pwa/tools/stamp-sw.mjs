// Write the precache list and version into pwa/sw.js. `node tools/build-pwa.mjs` (the
// release build) runs this last; on its own, after changing only the manifest or icons:
//   node pwa/tools/stamp-sw.mjs
// The version is a hash of the shell's bytes, so an unchanged shell keeps its cache and a
// changed one makes browsers install the new worker (and show "update available").
import { readFileSync, writeFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PWA = join(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * What the volunteer app needs offline: its page (which carries its stylesheet and its one
 * module inline, written by tools/build-pwa.mjs), manifest and icons. Other pages are not
 * precached.
 */
const ROOTS = ['index.html', 'manifest.webmanifest', 'icons'];
const SKIP = /(^|\/)\.|\.md$|\.map$/;

function walk(path) {
  if (!existsSync(path)) return [];
  if (statSync(path).isDirectory()) return readdirSync(path).sort().flatMap((n) => walk(join(path, n)));
  return [path];
}

/**
 * The shell: sorted URL paths and the version hash of their contents. `files` (path
 * relative to pwa/ → bytes) stands in for files on disk: the build checks output it
 * has not written.
 */
export function shell(root = PWA, files = new Map()) {
  const onDisk = ROOTS.flatMap((r) => walk(join(root, r))).map((f) => relative(root, f).split('\\').join('/'));
  const inMemory = [...files.keys()].filter((p) => ROOTS.some((r) => p === r || p.startsWith(`${r}/`)));
  const paths = [...new Set([...onDisk, ...inMemory])].filter((p) => !SKIP.test(p)).sort();
  const hash = createHash('sha256');
  for (const p of paths) {
    hash.update(p);
    hash.update('\0');
    hash.update(files.get(p) ?? readFileSync(join(root, p)));
  }
  return { urls: paths.map((p) => `/${p}`), version: hash.digest('hex').slice(0, 12) };
}

/** sw.js with VERSION and SHELL replaced. */
export function stamped(source, { urls, version }) {
  return source
    .replace(/^const VERSION = .*;$/m, `const VERSION = '${version}';`)
    .replace(/^const SHELL = [^;]*;$/m, `const SHELL = ${JSON.stringify(urls, null, 2)};`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sw = join(PWA, 'sw.js');
  const s = shell();
  writeFileSync(sw, stamped(readFileSync(sw, 'utf8'), s));
  console.log(`sw.js: version ${s.version}, ${s.urls.length} files`);
}
