// The pages for everyone (issue 14), checked on every page state, in Spanish and in English:
//   - axe-core: no violation of wcag2a, wcag2aa, wcag21aa, wcag22aa or best-practice;
//   - reflow (WCAG 1.4.10): at 320 × 640, document.documentElement.scrollWidth ≤ 320;
//   - every control (input, select, textarea, button) at least 44 px tall at the default size;
//   - the focus ring of every focusable element: an outline of at least 2 px whose colour has
//     a contrast of at least 3:1 with the background it sits on (WCAG 1.4.11, 2.4.13).
// It prints each page state's width at 320 px, then every failure; exits 1 if there is one.
//
// Run by crates/llave/tests/integration/accessibility.rs after `llave demo`'s seeding:
//   BASE_URL          llave (also its issuer)
//   CURP PASSWORD     a demo person (a confirmed e-mail, no second factor)
//   OFFICER_CURP OFFICER_PASSWORD   the demo's officer at a service centre, with an
//   OFFICER_CODES     authenticator app: two unused recovery codes, comma-separated; the
//                     officer is also a requester and a requisition approver
//   COUNTER_PEOPLE    JSON: two people without an account (one per language), each
//                     {curp, given_names, first_surname, second_surname, birth_date}, for
//                     whom the officer opens an account at the counter (the sheet's state)

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import { TIMEOUT_MS, fail, required, run, step } from './lib.mjs';

const env = {
  base: required('BASE_URL').replace(/\/+$/, ''),
  curp: required('CURP'),
  password: required('PASSWORD'),
  officerCurp: required('OFFICER_CURP'),
  officerPassword: required('OFFICER_PASSWORD'),
  officerCodes: required('OFFICER_CODES').split(','),
  counterPeople: JSON.parse(required('COUNTER_PEOPLE')),
};
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21aa', 'wcag22aa', 'best-practice'];
const NARROW = { width: 320, height: 640 };
const MIN_CONTROL_PX = 44;

/** The page states: a name, and how to reach it from a fresh page (signed in or not). */
const ANONYMOUS = [
  ['home', async (page) => go(page, '/')],
  ['sign-up', async (page) => go(page, '/signup')],
  ['sign-up with errors', async (page) => {
    await go(page, '/signup');
    await submit(page, 'form[action="/signup"]');
  }],
  ['sign-in', async (page) => go(page, '/signin')],
  ['sign-in refused', async (page) => {
    await go(page, '/signin');
    await page.fill('#identifier', 'nadie@example.org');
    await page.fill('#password', 'not the password');
    await submit(page, 'form[action="/signin"]');
  }],
  ['forgotten password', async (page) => go(page, '/password/forgot')],
  ['catalog', async (page) => go(page, '/tramites')],
  ['catalog search', async (page) => go(page, '/tramites?q=agua')],
  ['a procedure', async (page) => {
    await go(page, '/tramites');
    const first = page.locator('ul.procedures a').first();
    await go(page, await first.getAttribute('href'));
  }],
  ['verify a signature', async (page) => go(page, '/verificar')],
  ['verify a signature with errors', async (page) => {
    await go(page, '/verificar');
    await submit(page, 'form[action="/verificar"]');
  }],
  ['activating an account', async (page) => go(page, '/activar')],
  ['activating an account with errors', async (page) => {
    await go(page, '/activar');
    await submit(page, 'form[action="/activar"]');
  }],
];
const SIGNED_IN = [
  ['my account', async (page) => go(page, '/account')],
  ['my file', async (page) => go(page, '/expediente')],
  ['my signature', async (page) => go(page, '/firma')],
  ['my permissions', async (page) => go(page, '/permisos')],
  ['password change with errors', async (page) => {
    await go(page, '/account');
    await page.fill('#current_password', 'wrong');
    await submit(page, 'form[action="/account/password"]');
  }],
  ['reaching level 2', async (page) => go(page, '/nivel?need=2&next=%2Faccount')],
  ['setting up an authenticator app', async (page) => {
    await go(page, '/account');
    await submit(page, 'form[action="/account/totp/begin"]');
  }],
  ['an authenticator code refused', async (page) => {
    await page.fill('#code', '000000');
    await submit(page, 'form[action="/account/totp/confirm"]');
  }],
];
const OFFICER = [
  ['the officer desk', async (page) => go(page, '/oficina')],
  ['the officer desk with an error', async (page) => {
    await go(page, '/oficina');
    await page.fill('#curp', 'NOT A CURP');
    await submit(page, 'form[action="/oficina/persona"]');
  }],
  ['a person at the officer desk', async (page) => {
    await go(page, '/oficina');
    await page.fill('#curp', env.curp);
    await submit(page, 'form[action="/oficina/persona"]');
  }],
  // The officer also files and approves requisitions (docs/requisitions.md): the form, the
  // authority's requisitions, the pending one (their own: no buttons), the overdue flags.
  ['requisitions', async (page) => go(page, '/requisiciones')],
  ['a requisition with errors', async (page) => {
    await go(page, '/requisiciones');
    await submit(page, 'form[action="/requisiciones"]');
  }],
  ['opening an account at the counter', async (page) => go(page, '/oficina/abrir')],
  ['opening an account at the counter with errors', async (page) => {
    await go(page, '/oficina/abrir');
    await submit(page, 'form[action="/oficina/abrir"]');
  }],
  ['the sheet of an account opened at the counter', async (page, locale) => {
    const person = env.counterPeople[locale === 'en' ? 1 : 0];
    await go(page, '/oficina/abrir');
    for (const field of ['curp', 'given_names', 'first_surname', 'second_surname', 'birth_date']) {
      await page.fill(`#${field}`, person[field]);
    }
    await page.selectOption('#document_kind', 'ine');
    await page.fill('#document_number', 'IDMEX5566778899');
    await page.check('#checked');
    await page.check('#how-code');
    await submit(page, 'form[action="/oficina/abrir"]');
    if ((await page.locator('#sheet-code').count()) !== 1) fail(`no sheet after opening an account (${page.url()})`);
  }],
];

async function go(page, path) {
  const response = await page.goto(`${env.base}${path}`);
  if (!response) fail(`no answer for ${path}`);
}

/** Submits the form `selector` (no validation in the way: llave's forms are `novalidate`). */
async function submit(page, selector) {
  await Promise.all([page.waitForEvent('framenavigated', { timeout: TIMEOUT_MS }), page.locator(`${selector} [type=submit]`).first().click()]);
  await page.waitForLoadState('load');
}

async function signIn(page, curp = env.curp, password = env.password) {
  await go(page, '/signin');
  await page.fill('#identifier', curp);
  await page.fill('#password', password);
  await submit(page, 'form[action="/signin"]');
  if (curp === env.officerCurp) return;
  if (!page.url().endsWith('/account') && !page.url().endsWith('/')) {
    fail(`signing in the demo person went to ${page.url()}`);
  }
}

/** Everything measured in the page: width, small controls, weak focus rings. */
function measure(minControl) {
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 1 && box.height > 1 && style.visibility !== 'hidden' && style.display !== 'none';
  };
  const describe = (el) => {
    const id = el.id ? `#${el.id}` : '';
    const name = el.getAttribute('name') ? `[name=${el.getAttribute('name')}]` : '';
    const text = (el.innerText || el.value || '').trim().slice(0, 30);
    return `<${el.tagName.toLowerCase()}${id}${name}>${text ? ` "${text}"` : ''}`;
  };
  const rgba = (text) => {
    const m = text.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const luminance = ({ r, g, b }) => {
    const c = [r, g, b].map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const contrast = (x, y) => {
    const [l1, l2] = [luminance(x), luminance(y)].sort((p, q) => q - p);
    return (l1 + 0.05) / (l2 + 0.05);
  };
  // The ring is drawn outside the element: it sits on its parent's background.
  const backgroundBehind = (el) => {
    for (let node = el.parentElement; node; node = node.parentElement) {
      const colour = rgba(getComputedStyle(node).backgroundColor);
      if (colour && colour.a > 0) return colour;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };

  const small = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button')) {
    if (!visible(el)) continue;
    const height = el.getBoundingClientRect().height;
    if (height < minControl - 0.5) small.push(`${describe(el)} is ${height.toFixed(1)} px tall`);
  }
  const weak = [];
  const focusable = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"]), summary';
  for (const el of document.querySelectorAll(focusable)) {
    el.focus();
    if (document.activeElement !== el || !visible(el)) continue;
    const style = getComputedStyle(el);
    const width = parseFloat(style.outlineWidth) || 0;
    const colour = rgba(style.outlineColor);
    if (style.outlineStyle === 'none' || width < 2 || !colour) {
      weak.push(`${describe(el)} has no focus outline (${style.outlineStyle} ${style.outlineWidth})`);
      continue;
    }
    const ratio = contrast(colour, backgroundBehind(el));
    if (ratio < 3) weak.push(`${describe(el)}: focus ring ${style.outlineColor} is ${ratio.toFixed(2)}:1 against its background`);
  }
  if (document.activeElement) document.activeElement.blur();
  return { width: document.documentElement.scrollWidth, small, weak };
}

async function audit(page, state, failures, widths) {
  await page.setViewportSize(NARROW);
  const measured = await page.evaluate(measure, MIN_CONTROL_PX);
  widths.push(`${state}: ${measured.width} px`);
  if (measured.width > NARROW.width) failures.push(`${state}: scrolls sideways at 320 px (${measured.width} px wide)`);
  for (const problem of measured.small) failures.push(`${state}: ${problem}`);
  for (const problem of measured.weak) failures.push(`${state}: ${problem}`);
  await page.evaluate(axeSource);
  const results = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    AXE_TAGS,
  );
  for (const violation of results.violations) {
    const nodes = violation.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ');
    failures.push(`${state}: axe ${violation.id} (${violation.impact}): ${violation.help} — ${nodes}`);
  }
}

run(async (browser) => {
  const failures = [];
  const widths = [];
  for (const locale of ['es-MX', 'en']) {
    // bypassCSP: axe is injected into pages whose policy allows only llave's own scripts.
    const context = await browser.newContext({ locale, bypassCSP: true, viewport: NARROW });
    context.setDefaultTimeout(TIMEOUT_MS);
    const page = await context.newPage();
    for (const [name, reach] of ANONYMOUS) {
      const state = `${locale} ${name}`;
      step(state);
      await reach(page);
      await audit(page, state, failures, widths);
    }
    step(`${locale} signing in`);
    await signIn(page);
    for (const [name, reach] of SIGNED_IN) {
      const state = `${locale} ${name}`;
      step(state);
      await reach(page);
      await audit(page, state, failures, widths);
    }
    await context.close();
    const officer = await browser.newContext({ locale, bypassCSP: true, viewport: NARROW });
    officer.setDefaultTimeout(TIMEOUT_MS);
    const desk = await officer.newPage();
    step(`${locale} the officer signs in`);
    await signIn(desk, env.officerCurp, env.officerPassword);
    await audit(desk, `${locale} the second step of signing in`, failures, widths);
    step(`${locale} the officer gives a recovery code`);
    await desk.setViewportSize({ width: 1024, height: 768 });
    await desk.locator('details summary').click();
    await desk.fill('#recovery_code', env.officerCodes[locale === 'en' ? 1 : 0]);
    await submit(desk, 'details form[action="/signin/second"]');
    for (const [name, reach] of OFFICER) {
      const state = `${locale} ${name}`;
      step(state);
      await reach(desk, locale);
      await audit(desk, state, failures, widths);
    }
    await officer.close();
  }
  console.log(`widths at 320 px:\n  ${widths.join('\n  ')}`);
  if (failures.length > 0) fail(`${failures.length} problem(s):\n  ${failures.join('\n  ')}`);
});
