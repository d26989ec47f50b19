// A new person's first visit to llave, in a real browser (Debian's Chromium driven by
// playwright-core), with JavaScript disabled because llave's pages must work without it:
// sign up, confirm the e-mail through the link in the mail, sign in by CURP, see the open
// session, sign out; a second sign-up with the same CURP answers like a new one (no account
// enumeration) while the owner gets a notice by mail; the English switch works.
//
// Run by crates/llave/tests/integration/browser.rs, which starts llave and passes:
//   BASE_URL        where llave listens, e.g. http://127.0.0.1:40123 (also its issuer)
//   OUTBOX          llave's DATA_DIR/outbox, where the confirmation mail is written
//   CURP GIVEN_NAMES FIRST_SURNAME SECOND_SURNAME BIRTH_DATE (YYYY-MM-DD) EMAIL PASSWORD
//   SECOND_EMAIL    the e-mail used for the second sign-up with the same CURP (optional)
//   CHROMIUM        the browser binary (optional; default /usr/bin/chromium)
// Exits 0 when every step passed; otherwise 1, naming the failed step and a screenshot.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TIMEOUT_MS, expectVisible, fail, heading, required, run, step } from './lib.mjs';

const env = {
  base: required('BASE_URL').replace(/\/+$/, ''),
  outbox: required('OUTBOX'),
  curp: required('CURP'),
  givenNames: required('GIVEN_NAMES'),
  firstSurname: required('FIRST_SURNAME'),
  secondSurname: process.env.SECOND_SURNAME ?? '',
  birthDate: required('BIRTH_DATE'),
  email: required('EMAIL'),
  password: required('PASSWORD'),
};
env.secondEmail = process.env.SECOND_EMAIL || `otra.${env.email}`;

/** Waits until the browser is at `path` (a path, or a path and query that must match). */
async function expectPath(page, path) {
  const at = (url) => url.pathname + url.search === path || url.pathname === path;
  try {
    await page.waitForURL(at, { timeout: TIMEOUT_MS, waitUntil: 'commit' });
  } catch {
    fail(`expected to be at ${path}, but the browser is at ${page.url()}`);
  }
}

/** Clicks a submit button and returns the HTTP response to the form's POST. */
async function submit(page, button) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest(), {
      timeout: TIMEOUT_MS,
    }),
    button.click(),
  ]);
  await page.waitForLoadState('load');
  return response;
}

function label(page, text) {
  return page.getByLabel(text, { exact: true });
}

async function fillSignup(page, email) {
  await label(page, 'CURP').fill(env.curp);
  await label(page, 'Nombre(s)').fill(env.givenNames);
  await label(page, 'Primer apellido').fill(env.firstSurname);
  await label(page, 'Segundo apellido').fill(env.secondSurname);
  await label(page, 'Fecha de nacimiento').fill(env.birthDate);
  await label(page, 'Correo electrónico').fill(email);
  await label(page, 'Contraseña').fill(env.password);
}

/** The confirmation link in the newest .eml in the outbox (waits for it to appear). */
async function confirmationLinkFromOutbox() {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const names = (await readdir(env.outbox).catch(() => []))
      .filter((n) => n.endsWith('.eml') && !n.startsWith('.'))
      .sort();
    if (names.length > 0) {
      const newest = names[names.length - 1];
      const text = await readFile(join(env.outbox, newest), 'utf8');
      const match = text.match(/https?:\/\/\S+\/confirm\?token=\S+/);
      if (!match) fail(`no confirmation link in ${join(env.outbox, newest)}:\n${text}`);
      if (!text.includes(env.email)) fail(`the newest mail in the outbox is not to ${env.email}:\n${text}`);
      return match[0];
    }
    if (Date.now() > deadline) fail(`no .eml appeared in ${env.outbox}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Waits for the notice to the account's owner (not to the address typed the second time). */
async function noticeToOwner() {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    for (const name of (await readdir(env.outbox).catch(() => [])).filter((n) => n.endsWith('.eml'))) {
      const text = await readFile(join(env.outbox, name), 'utf8');
      if (text.includes('Alguien intentó crear una cuenta')) {
        if (!text.includes(`To: ${env.email}`)) fail(`the notice went elsewhere:\n${text}`);
        return;
      }
    }
    if (Date.now() > deadline) fail(`no notice to ${env.email} appeared in ${env.outbox}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function newUserFlow(browser) {
  // No JavaScript at all: every step below is plain links and HTML forms.
  const context = await browser.newContext({ javaScriptEnabled: false, locale: 'es-MX' });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  try {
    step('the home page opens');
    const home = await page.goto(`${env.base}/`);
    if (home?.status() !== 200) fail(`GET / answered ${home?.status()}`);
    await expectVisible(page, heading(page, 'Llave'), 'the heading "Llave"');

    step('the "Crear cuenta" link leads to the sign-up form');
    await page.getByRole('main').getByRole('link', { name: 'Crear cuenta', exact: true }).click();
    await page.waitForLoadState('load');
    await expectPath(page, '/signup');
    await expectVisible(page, heading(page, 'Crear tu cuenta Llave'), 'the heading "Crear tu cuenta Llave"');

    step('the form, filled in by its labels, creates the account');
    await fillSignup(page, env.email);
    const created = await submit(page, page.getByRole('button', { name: 'Crear cuenta', exact: true }));
    await expectVisible(page, heading(page, 'Revisa tu correo'), 'the heading "Revisa tu correo"');
    if (created.status() !== 200) fail(`POST /signup answered ${created.status()}`);
    await expectVisible(page, page.getByText(env.email), `the address ${env.email}`);

    step('the confirmation mail holds a link to llave');
    const link = await confirmationLinkFromOutbox();
    if (!link.startsWith(`${env.base}/confirm?token=`)) {
      fail(`the confirmation link ${link} does not point at ${env.base}/confirm`);
    }

    step('the development outbox page shows the same mail');
    await page.goto(`${env.base}/dev/outbox`);
    const outboxText = await page.locator('pre').first().innerText();
    if (!outboxText.includes(link)) fail(`/dev/outbox does not show ${link}; its newest mail:\n${outboxText}`);

    step('the link confirms the e-mail address');
    const confirmed = await page.goto(link);
    await expectVisible(page, heading(page, 'Correo confirmado'), 'the heading "Correo confirmado"');
    if (confirmed?.status() !== 200) fail(`GET ${link} answered ${confirmed?.status()}`);

    step('sign-in by CURP leads to the account page');
    await page.getByRole('navigation').getByRole('link', { name: 'Iniciar sesión', exact: true }).click();
    await page.waitForLoadState('load');
    await expectPath(page, '/signin');
    await label(page, 'CURP o correo electrónico').fill(env.curp);
    await label(page, 'Contraseña').fill(env.password);
    await submit(page, page.getByRole('button', { name: 'Iniciar sesión', exact: true }));
    await expectVisible(page, heading(page, 'Mi cuenta'), 'the heading "Mi cuenta"');
    await expectPath(page, '/account');
    await expectVisible(page, page.getByText(env.curp, { exact: true }), `the CURP ${env.curp}`);
    await expectVisible(page, page.getByText('confirmado', { exact: true }), 'the badge "confirmado"');

    step('the account page lists this session, with a button to end it');
    const table = page.getByRole('region', { name: 'Sesiones abiertas' }).getByRole('table');
    await expectVisible(page, table, 'the table of open sessions');
    const rows = table.locator('tbody tr');
    const count = await rows.count();
    if (count !== 1) fail(`expected 1 open session, the table has ${count}:\n${await table.innerText()}`);
    const row = rows.first();
    const rowText = await row.innerText();
    if (!rowText.includes('esta sesión')) fail(`the session is not marked "esta sesión": ${rowText}`);
    if (!rowText.includes('127.0.0.1')) fail(`the session does not show the address 127.0.0.1: ${rowText}`);
    if (!rowText.includes('Chrome')) fail(`the session does not show the browser: ${rowText}`);
    await expectVisible(page, row.getByRole('button', { name: /^Terminar\b/ }), 'the button "Terminar" (naming the session)');

    step('"Cerrar sesión" signs out');
    await submit(page, page.getByRole('button', { name: 'Cerrar sesión', exact: true }));
    await expectPath(page, '/signin?signed_out=1');
    await expectVisible(page, page.getByRole('status').getByText('Cerraste tu sesión.'), 'the notice "Cerraste tu sesión."');

    step('after signing out, the account page asks to sign in again');
    await page.goto(`${env.base}/account`);
    await expectVisible(page, heading(page, 'Iniciar sesión en Llave'), 'the sign-in page');

    step('a second sign-up with the same CURP answers like a new one, and the owner is told by mail');
    await page.getByRole('navigation').getByRole('link', { name: 'Crear cuenta', exact: true }).click();
    await page.waitForLoadState('load');
    await expectPath(page, '/signup');
    await fillSignup(page, env.secondEmail);
    const again = await submit(page, page.getByRole('button', { name: 'Crear cuenta', exact: true }));
    if (again.status() !== 200) fail(`the second POST /signup answered ${again.status()}, not 200`);
    await expectVisible(page, heading(page, 'Revisa tu correo'), 'the same answer as for a new account');
    if ((await page.content()).includes('Ya existe')) fail('the page says the CURP has an account');
    await noticeToOwner();
  } catch (error) {
    error.page = page; // kept open for the screenshot
    throw error;
  }
  await context.close();
}

async function languageSwitch(browser) {
  const context = await browser.newContext({ javaScriptEnabled: false, locale: 'es-MX' });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  try {
    step('the "English" switch turns the sign-in page into English');
    await page.goto(`${env.base}/signin`);
    await expectVisible(page, page.getByRole('button', { name: 'Iniciar sesión', exact: true }), 'the button "Iniciar sesión"');
    await page.getByRole('link', { name: 'English', exact: true }).click();
    await page.waitForLoadState('load');
    await expectPath(page, '/signin');
    await expectVisible(page, page.getByRole('button', { name: 'Sign in', exact: true }), 'the button "Sign in"');
    await expectVisible(page, label(page, 'CURP or e-mail address'), 'the field "CURP or e-mail address"');
    const lang = await page.locator('html').getAttribute('lang');
    if (!lang?.startsWith('en')) fail(`the English page says <html lang="${lang}">`);

    step('the choice of English stays for the next page');
    await page.getByRole('navigation').getByRole('link', { name: 'Create account', exact: true }).click();
    await page.waitForLoadState('load');
    await expectPath(page, '/signup');
    await expectVisible(page, page.getByRole('button', { name: 'Create account', exact: true }), 'the button "Create account"');
    await expectVisible(page, label(page, 'Given name(s)'), 'the field "Given name(s)"');
    await expectVisible(page, label(page, 'Date of birth'), 'the field "Date of birth"');

    step('"Español" switches back');
    await page.getByRole('link', { name: 'Español', exact: true }).click();
    await page.waitForLoadState('load');
    await expectPath(page, '/signup');
    await expectVisible(page, page.getByRole('button', { name: 'Crear cuenta', exact: true }), 'the button "Crear cuenta"');
  } catch (error) {
    error.page = page; // kept open for the screenshot
    throw error;
  }
  await context.close();
}

await run(async (browser) => {
  await newUserFlow(browser);
  await languageSwitch(browser);
});
