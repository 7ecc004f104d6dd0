// Hash routing: "#/i/<incident>/h/<household>" → handler(params). Hash routes work from a
// cached shell offline and from the invite link "#/enroll/<code>".

/**
 * @param {Array<[RegExp, (m: RegExpMatchArray) => void]>} routes first match wins
 * @param {() => void} fallback
 * @returns {() => void} call to render the current hash again
 */
export function startRouter(routes, fallback) {
  const render = () => {
    const path = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
    for (const [re, fn] of routes) {
      const m = path.match(re);
      if (m) { fn(m); return; }
    }
    fallback();
  };
  window.addEventListener('hashchange', render);
  render();
  return render;
}

export function go(path) {
  if (location.hash === `#${path}`) return;
  location.hash = path;
}
