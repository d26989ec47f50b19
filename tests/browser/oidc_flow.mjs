// Single sign-on through the real pages, in a real browser (Debian's Chromium driven by
// playwright-core): an entity's website sends the person to llave, they sign in and allow
// the entity, and come back with a code; a second visit returns at once through a
// self-submitting form_post page (JavaScript on: it is the one llave page with a script,
// allowed by its own nonce); signing out from the entity's site asks first, then returns
// to the entity; signing in again goes straight back (the permission is remembered); the
// account page lists the entity and withdraws the permission.
//
// Run by crates/llave/tests/integration/browser.rs, which starts llave and a stand-in for
// the entity's website (it answers /callback and /bye with a page titled "Entidad de
// prueba" and keeps what it received), and passes:
//   BASE_URL             llave (also its issuer)
//   AUTHORIZE_URL        the entity's authorization request (query response mode)
//   FORM_POST_URL        a second one, with response_mode=form_post
//   LOGOUT_URL           RP-initiated logout with a post_logout_redirect_uri and state
//   AGAIN_URL            a third authorization request, after signing out
//   ENTITY_NAME          the entity's name as llave shows it
//   CURP PASSWORD        a confirmed person
//   CHROMIUM             the browser binary (optional; default /usr/bin/chromium)
// Exits 0 when every step passed; otherwise 1, naming the failed step and a screenshot.

import { TIMEOUT_MS, click, expectVisible, fail, heading, required, run, step } from './lib.mjs';

const env = {
  base: required('BASE_URL').replace(/\/+$/, ''),
  authorizeUrl: required('AUTHORIZE_URL'),
  formPostUrl: required('FORM_POST_URL'),
  logoutUrl: required('LOGOUT_URL'),
  againUrl: required('AGAIN_URL'),
  entityName: required('ENTITY_NAME'),
  curp: required('CURP'),
  password: required('PASSWORD'),
};

async function atEntity(page, path) {
  await expectVisible(page, heading(page, 'Entidad de prueba'), "the entity's page");
  const url = new URL(page.url());
  if (url.pathname !== path) fail(`expected the entity's ${path}, the browser is at ${page.url()}`);
  if (url.origin === new URL(env.base).origin) fail('the entity page is on llave');
}

async function signInAndAllow(browser) {
  // Plain links and forms: no JavaScript on llave's sign-in and consent pages.
  const context = await browser.newContext({ javaScriptEnabled: false, locale: 'es-MX' });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  try {
    step("the entity's sign-in link leads to llave's sign-in page");
    await page.goto(env.authorizeUrl);
    await expectVisible(page, heading(page, 'Iniciar sesión en Llave'), 'the sign-in page');

    step('signing in leads to the consent page, which names the entity and the data');
    await page.getByLabel('CURP o correo electrónico', { exact: true }).fill(env.curp);
    await page.getByLabel('Contraseña', { exact: true }).fill(env.password);
    await click(page, page.getByRole('button', { name: 'Iniciar sesión', exact: true }));
    await expectVisible(page, heading(page, `${env.entityName} quiere usar tu cuenta Llave`), 'the consent heading');
    await expectVisible(page, page.getByText('tu correo electrónico', { exact: true }), 'the e-mail in the list');

    step('"Permitir" returns to the entity with a code');
    await click(page, page.getByRole('button', { name: 'Permitir', exact: true }));
    await atEntity(page, '/callback');
    return context;
  } catch (error) {
    error.page = page;
    throw error;
  }
}

async function formPostAndAccount(browser, signedIn) {
  // The same browser profile (the llave session cookie), now with JavaScript for form_post.
  const state = await signedIn.storageState();
  await signedIn.close();
  const context = await browser.newContext({ javaScriptEnabled: true, locale: 'es-MX', storageState: state });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  const violations = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  try {
    step('a second visit comes straight back through a self-submitting form_post page');
    await page.goto(env.formPostUrl);
    await atEntity(page, '/callback');
    if (violations.length > 0) fail(`the form_post page broke its CSP:\n${violations.join('\n')}`);

    step('signing out from the entity asks first, then returns to the entity');
    await page.goto(env.logoutUrl);
    await expectVisible(page, heading(page, '¿Cerrar tu sesión de Llave?'), 'the logout question');
    await click(page, page.getByRole('main').getByRole('button', { name: 'Cerrar sesión', exact: true }));
    await atEntity(page, '/bye');

    step('signing in again goes straight back to the entity: the permission is remembered');
    await page.goto(env.againUrl);
    await expectVisible(page, heading(page, 'Iniciar sesión en Llave'), 'the sign-in page');
    await page.getByLabel('CURP o correo electrónico', { exact: true }).fill(env.curp);
    await page.getByLabel('Contraseña', { exact: true }).fill(env.password);
    await click(page, page.getByRole('button', { name: 'Iniciar sesión', exact: true }));
    await atEntity(page, '/callback');

    step('the account page lists the entity and withdraws its permission');
    await page.goto(`${env.base}/account`);
    const sites = page.getByRole('region', { name: 'Sitios en los que usas Llave' });
    await expectVisible(page, sites.getByText(env.entityName, { exact: false }), 'the entity on the account page');
    await click(page, sites.getByRole('button', { name: /^Retirar permiso\b/ }));
    await expectVisible(page, page.getByRole('status').getByText('Retiraste el permiso', { exact: false }), 'the notice');
    await expectVisible(page, sites.getByText('te lo pedirá de nuevo', { exact: false }), 'the withdrawn permission');
  } catch (error) {
    error.page = page;
    throw error;
  }
  await context.close();
}

await run(async (browser) => {
  const signedIn = await signInAndAllow(browser);
  await formPostAndAccount(browser, signedIn);
});
