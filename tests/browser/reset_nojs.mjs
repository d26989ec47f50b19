// A person who forgot their password gets a new one, with JavaScript off (issue 14: every
// citizen flow works without it): "Olvidé mi contraseña" from the sign-in page, the mail's
// link (read from the development outbox page), a new password, and signing in with it.
//
// Run by crates/llave/tests/integration/browser.rs after `llave demo`'s seeding:
//   BASE_URL          llave in development mode (mail goes to /dev/outbox)
//   CURP              a demo person
//   NEW_PASSWORD      the password they choose
// Exits 0 when every step passed; otherwise 1, naming the failed step and a screenshot.

import { TIMEOUT_MS, expectVisible, fail, heading, required, run, step } from './lib.mjs';

const env = { base: required('BASE_URL').replace(/\/+$/, ''), curp: required('CURP'), password: required('NEW_PASSWORD') };

async function submit(page, button) {
  await Promise.all([page.waitForEvent('framenavigated', { timeout: TIMEOUT_MS }), button.click()]);
  await page.waitForLoadState('load');
}

run(async (browser) => {
  const context = await browser.newContext({ javaScriptEnabled: false, locale: 'es-MX' });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  try {
    step('the sign-in page links to "Olvidé mi contraseña"');
    await page.goto(`${env.base}/signin`);
    await submit(page, page.getByRole('link', { name: 'Olvidé mi contraseña', exact: true }));
    await expectVisible(page, heading(page, 'Recuperar tu contraseña'), 'the heading "Recuperar tu contraseña"');

    step('asking for a link by CURP');
    await page.getByLabel('CURP o correo electrónico').fill(env.curp);
    await submit(page, page.getByRole('button', { name: 'Enviar enlace', exact: true }));
    await expectVisible(page, heading(page, 'Revisa tu correo'), 'the heading "Revisa tu correo"');

    step('the mail holds a link to choose a new password');
    let link;
    for (let attempt = 0; attempt < 40 && !link; attempt++) {
      await page.goto(`${env.base}/dev/outbox`);
      const mails = await page.locator('pre').allInnerTexts();
      link = mails.map((text) => text.match(/https?:\/\/\S+\/password\/reset\?token=[\w-]+/)).find(Boolean)?.[0];
      if (!link) await page.waitForTimeout(250);
    }
    if (!link) fail('no mail with a reset link reached the development outbox');

    step('the link asks for a new password, which is saved');
    await page.goto(link);
    await expectVisible(page, heading(page, 'Elige una contraseña nueva'), 'the heading "Elige una contraseña nueva"');
    await page.locator('input[type=password]').first().fill(env.password);
    await submit(page, page.getByRole('button', { name: 'Guardar contraseña', exact: true }));
    await expectVisible(page, heading(page, 'Contraseña cambiada'), 'the heading "Contraseña cambiada"');

    step('signing in with the new password');
    await page.goto(`${env.base}/signin`);
    await page.locator('#identifier').fill(env.curp);
    await page.locator('#password').fill(env.password);
    await submit(page, page.getByRole('button', { name: 'Iniciar sesión', exact: true }).last());
    if (!new URL(page.url()).pathname.startsWith('/account')) fail(`signing in went to ${page.url()}`);
  } catch (error) {
    error.page = page;
    throw error;
  }
});
