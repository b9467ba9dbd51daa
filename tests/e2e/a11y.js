/* The accessibility check run by tests/e2e/a11y.py through page.evaluate(): returns a
   list of problems (strings), empty when the page passes. */
() => {
  const problems = [];
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && cs.visibility !== 'hidden' && cs.display !== 'none';
  };
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    if (el.className && typeof el.className === 'string') s += '.' + el.className.trim().split(/\s+/).join('.');
    const text = (el.innerText || el.value || '').trim().slice(0, 30);
    return text ? `${s} "${text}"` : s;
  };

  // document
  if (!document.documentElement.lang) problems.push('html has no lang');
  if (!document.title.trim()) problems.push('page has no title');

  // headings
  const headings = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')];
  const h1s = headings.filter((h) => h.tagName === 'H1');
  if (h1s.length !== 1) problems.push(`expected one h1, found ${h1s.length}`);
  if (headings.length && headings[0].tagName !== 'H1') problems.push(`first heading is ${headings[0].tagName}, not H1`);
  let last = 0;
  for (const h of headings) {
    const level = Number(h.tagName[1]);
    if (last && level > last + 1) problems.push(`heading level skips from h${last} to h${level}: ${describe(h)}`);
    if (!h.textContent.trim()) problems.push(`empty heading ${describe(h)}`);
    last = level;
  }

  // landmarks
  const landmark = (sel) => document.querySelectorAll(sel).length;
  if (!landmark('body > header, [role=banner]')) problems.push('no banner (header) landmark');
  if (!landmark('nav, [role=navigation]')) problems.push('no navigation landmark');
  if (landmark('main, [role=main]') !== 1) problems.push('expected exactly one main landmark');
  if (!landmark('body > footer, [role=contentinfo]')) problems.push('no contentinfo (footer) landmark');
  const navs = [...document.querySelectorAll('nav')];
  if (navs.length > 1 && navs.some((n) => !n.getAttribute('aria-label') && !n.getAttribute('aria-labelledby')))
    problems.push('several nav landmarks, not all of them named');

  // skip link
  const focusables = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])')];
  const first = focusables[0];
  if (!first || !first.classList.contains('skip-link')) problems.push('the first focusable element is not the skip link');
  else if (!document.getElementById(first.getAttribute('href').slice(1))) problems.push('the skip link target does not exist');

  // form controls
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || el.type === 'submit' || el.type === 'button') continue;
    let label = el.id ? document.querySelector(`label[for="${CSS.escape(el.id)}"]`) : null;
    label = label || el.closest('label');
    const by = el.getAttribute('aria-labelledby');
    const byEl = by ? document.getElementById(by) : null;
    const labelEl = label || byEl;
    if (!labelEl || !labelEl.textContent.trim()) problems.push(`form control without a label: ${describe(el)}`);
    else if (!visible(labelEl)) problems.push(`form control whose label is not visible: ${describe(el)}`);
  }

  // images, links, buttons, ids
  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) problems.push(`image without alt: ${img.getAttribute('src')}`);
  }
  for (const el of document.querySelectorAll('a[href], button')) {
    const name = (el.getAttribute('aria-label') || el.textContent || '').trim();
    if (!name) problems.push(`link or button without a name: ${describe(el)}`);
  }
  const ids = new Map();
  for (const el of document.querySelectorAll('[id]')) ids.set(el.id, (ids.get(el.id) || 0) + 1);
  for (const [id, n] of ids) if (n > 1) problems.push(`duplicate id "${id}" (${n} times)`);

  // contrast
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const blend = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a), a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const bg = parse(getComputedStyle(n).backgroundColor);
      if (bg && bg.a > 0) { layers.push(bg); if (bg.a >= 1) break; }
    }
    let color = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) color = blend(layer, color);
    return color;
  };
  const luminance = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => {
    const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (l1 + 0.05) / (l2 + 0.05);
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || seen.has(el) || !visible(el)) continue;
    if (el.closest('.visually-hidden, [aria-hidden=true]')) continue;
    seen.add(el);
    const cs = getComputedStyle(el);
    const bg = background(el);
    const fg = blend(parse(cs.color), bg);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    const got = ratio(fg, bg);
    if (got < need) problems.push(`contrast ${got.toFixed(2)}:1 < ${need}:1 on ${describe(el)}`);
  }

  // touch targets
  for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')) {
    if (!visible(el)) continue;
    const cs = getComputedStyle(el);
    if (el.tagName === 'A' && cs.display === 'inline') continue;  // links in running text
    if (el.classList.contains('skip-link')) continue;  // off screen until focused
    const r = el.getBoundingClientRect();
    if (r.height < 43.5 || r.width < 43.5)
      problems.push(`touch target ${Math.round(r.width)}x${Math.round(r.height)} px < 44 px: ${describe(el)}`);
  }
  return problems;
}
