// The demo's story, hub and spokes, through the two demo entity sites llave serves under
// /demo/ (JavaScript off everywhere): a person signs in at the Alcaldía Cuauhtémoc's site
// with Llave and gets a proof of residence; then applies at Semovi's site for a driver's
// licence. Semovi's sign-in asks to reuse the proof of residence: the consent page names
// who holds it, what it is and what for. Unticked, Semovi reads nothing and asks for an
// upload; ticked, Semovi shows the address it read from the Alcaldía.
//
// Run by crates/llave/tests/integration/demo_story.rs after `llave demo`'s seeding:
//   BASE_URL          llave (also its issuer), with the demo sites
//   CURP PASSWORD     a demo person
//   STREET COLONIA POSTAL_CODE   the address they declare
// Exits 0 when every step passed; otherwise 1, naming the failed step and a screenshot.

import { TIMEOUT_MS, click, expectVisible, fail, heading, required, run, step } from './lib.mjs';

const env = {
  base: required('BASE_URL').replace(/\/+$/, ''),
  curp: required('CURP'),
  password: required('PASSWORD'),
  street: required('STREET'),
  colonia: required('COLONIA'),
  postalCode: required('POSTAL_CODE'),
};

const alcaldia = `${env.base}/demo/alcaldia-cuauhtemoc/`;
const semovi = `${env.base}/demo/semovi/`;
const button = (page, name) => page.getByRole('button', { name, exact: true });
const link = (page, name) => page.getByRole('link', { name, exact: true });

/** On llave's consent page for Semovi, with the reuse of the proof of residence offered. */
async function expectReuseOffer(page) {
  await expectVisible(page, heading(page, 'Secretaría de Movilidad quiere usar tu cuenta Llave'), 'the consent page');
  const offer = page.getByRole('checkbox');
  await expectVisible(page, offer, 'the reuse checkbox');
  if ((await offer.count()) !== 1) fail(`expected one reuse offer, the page has ${await offer.count()}`);
  const label = await page.locator('label.check').innerText();
  for (const part of ['Secretaría de Movilidad', 'Alcaldía Cuauhtémoc', 'omprobante de domicilio', 'Licencia de conducir']) {
    if (!label.includes(part)) fail(`the reuse offer does not name "${part}": ${label}`);
  }
  // Consent is the person's act: the box is never ticked for them.
  if (await offer.isChecked()) fail('the reuse offer is ticked before the person ticks it');
  return offer;
}

run(async (browser) => {
  const context = await browser.newContext({ javaScriptEnabled: false, locale: 'es-MX' });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  try {
    step("the Alcaldía's site sends the person to sign in with Llave");
    await page.goto(alcaldia);
    await expectVisible(page, heading(page, 'Constancia de residencia'), "the Alcaldía's page");
    await click(page, link(page, 'Iniciar sesión con Llave'));
    await expectVisible(page, heading(page, 'Iniciar sesión en Llave'), "llave's sign-in page");
    await page.getByLabel('CURP o correo electrónico', { exact: true }).fill(env.curp);
    await page.getByLabel('Contraseña', { exact: true }).fill(env.password);
    await click(page, button(page, 'Iniciar sesión'));

    step('the person allows the Alcaldía and is back on its site, signed in');
    await expectVisible(page, heading(page, 'Alcaldía Cuauhtémoc quiere usar tu cuenta Llave'), 'the consent page');
    await click(page, button(page, 'Permitir'));
    await expectVisible(page, page.getByRole('group', { name: 'Solicitar constancia de residencia' }), 'the request form');
    if (!page.url().startsWith(alcaldia)) fail(`expected the Alcaldía's site, the browser is at ${page.url()}`);

    step('the person asks for a proof of residence and gets it');
    await page.getByLabel('Calle y número', { exact: true }).fill(env.street);
    await page.getByLabel('Colonia', { exact: true }).fill(env.colonia);
    await page.getByLabel('Código postal', { exact: true }).fill(env.postalCode);
    await click(page, button(page, 'Solicitar constancia'));
    await expectVisible(page, heading(page, 'Constancia emitida'), 'the proof of residence');
    const issued = await page.locator('#address').innerText();
    if (!issued.includes(env.street)) fail(`the proof names the address ${issued}`);

    step("at Semovi, applying for a licence asks Llave for consent to reuse the Alcaldía's record");
    await page.goto(semovi);
    await expectVisible(page, heading(page, 'Licencia de conducir'), "Semovi's page");
    await click(page, link(page, 'Solicitar licencia de conducir'));
    const offer = await expectReuseOffer(page);

    step('with the reuse left unticked, Semovi reads nothing and asks for an upload');
    await click(page, button(page, 'Permitir'));
    await expectVisible(page, page.locator('#no-consent'), 'the no-consent message');
    if (await page.locator('#address').count()) fail('Semovi shows an address it had no consent to read');

    step('applying again, the person ticks the reuse and allows it');
    await page.goto(semovi);
    await click(page, link(page, 'Solicitar licencia de conducir'));
    await (await expectReuseOffer(page)).check();
    await click(page, button(page, 'Permitir'));

    step('Semovi shows the proof of residence it read from the Alcaldía');
    await expectVisible(
      page,
      page.getByRole('heading', { name: 'Comprobante de domicilio obtenido de Alcaldía Cuauhtémoc', exact: true }),
      'the reused proof of residence',
    );
    const read = await page.locator('#address').innerText();
    for (const part of [env.street, env.colonia, env.postalCode]) {
      if (!read.includes(part)) fail(`Semovi shows the address ${read}, without ${part}`);
    }
    if (!page.url().startsWith(semovi)) fail(`expected Semovi's site, the browser is at ${page.url()}`);

    step("in Llave, the person's file shows Semovi's read of their proof of residence, and the consent");
    await page.goto(`${env.base}/expediente`);
    await expectVisible(page, heading(page, 'Mi expediente'), "the person's file");
    const readRow = page
      .locator('#accesos-section tbody tr')
      .filter({ hasText: 'Secretaría de Movilidad' })
      .filter({ hasText: 'Consultado' });
    await expectVisible(page, readRow.first(), "Semovi's read in the file");
    const rowText = await readRow.first().innerText();
    if (!rowText.includes('Licencia de conducir')) fail(`the read names its procedure: ${rowText}`);
    await expectVisible(
      page,
      page.locator('#permisos-section').getByRole('button', { name: /^Retirar permiso\b/ }),
      'the standing consent, withdrawable',
    );
    const holder = page.locator('section').filter({ hasText: 'Alcaldía Cuauhtémoc' }).filter({ hasText: env.street });
    await expectVisible(page, holder.first(), "the Alcaldía's record in the file");
  } catch (error) {
    error.page = page;
    throw error;
  } finally {
    await context.close();
  }
});
