// The demo bank's story (issue 17 item 7), JavaScript off everywhere: a person gets a proof
// of residence at the Alcaldía Cuauhtémoc's demo site; at the demo bank, "Banco del
// Ejemplo", presses "Abrir cuenta con Llave" (the bank pushes a FAPI 2.0 request to llave);
// llave's consent page names the bank, and nothing on it is ticked; the person ticks every
// item and allows; the bank shows the name, CURP and address it received and that the
// Alcaldía's seal verified. In llave's file the person finds the consent under "Permisos a
// empresas" with its fetch, and revokes it; the bank's next fetch is refused.
//
// Run by crates/llave/tests/integration/bank_story.rs after `llave demo`'s seeding:
//   BASE_URL          llave (also its issuer), with the demo sites
//   CURP PASSWORD     a demo person
//   STREET COLONIA POSTAL_CODE   the address they declare at the Alcaldía
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
const bank = `${env.base}/demo/banco/`;
const LEGAL_NAME = 'Banco del Ejemplo, S.A. de C.V.';
const ITEMS = ['name', 'curp', 'birthdate', 'record:proof_of_residence'];
const button = (page, name) => page.getByRole('button', { name, exact: true });
const link = (page, name) => page.getByRole('link', { name, exact: true });

/** Signs in at llave if llave asks (it may not: the person may be signed in already). */
async function signInIfAsked(page) {
  const signIn = heading(page, 'Iniciar sesión en Llave');
  if ((await signIn.count()) === 0) return;
  await page.getByLabel('CURP o correo electrónico', { exact: true }).fill(env.curp);
  await page.getByLabel('Contraseña', { exact: true }).fill(env.password);
  await click(page, button(page, 'Iniciar sesión'));
}

run(async (browser) => {
  const context = await browser.newContext({ javaScriptEnabled: false, locale: 'es-MX' });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  try {
    step("the person signs in at the Alcaldía's site and gets a proof of residence");
    await page.goto(alcaldia);
    await click(page, link(page, 'Iniciar sesión con Llave'));
    await expectVisible(page, heading(page, 'Iniciar sesión en Llave'), "llave's sign-in page");
    await signInIfAsked(page);
    await expectVisible(page, heading(page, 'Alcaldía Cuauhtémoc quiere usar tu cuenta Llave'), 'the consent page');
    await click(page, button(page, 'Permitir'));
    await page.getByLabel('Calle y número', { exact: true }).fill(env.street);
    await page.getByLabel('Colonia', { exact: true }).fill(env.colonia);
    await page.getByLabel('Código postal', { exact: true }).fill(env.postalCode);
    await click(page, button(page, 'Solicitar constancia'));
    await expectVisible(page, heading(page, 'Constancia emitida'), 'the proof of residence');

    step('at the bank, "Abrir cuenta con Llave" leads to llave');
    await page.goto(bank);
    await expectVisible(page, heading(page, 'Banco del Ejemplo'), "the bank's page");
    await click(page, button(page, 'Abrir cuenta con Llave'));
    if (!page.url().startsWith(`${env.base}/`) || page.url().startsWith(bank)) {
      fail(`expected llave's pages, the browser is at ${page.url()}`);
    }
    await signInIfAsked(page);

    step("llave's consent page names the bank and its request, with nothing ticked");
    await expectVisible(page, page.getByRole('heading', { level: 1, name: new RegExp(LEGAL_NAME.replace(/[.,]/g, '\\$&')) }), 'the consent page naming the bank');
    const main = await page.locator('main').innerText();
    for (const part of ['BEJ990101AB1', 'Abrir una cuenta bancaria', 'Alcaldía Cuauhtémoc']) {
      if (!main.includes(part)) fail(`the consent page does not show "${part}":\n${main}`);
    }
    const boxes = page.locator('input[type="checkbox"][name="item"]');
    const values = [];
    for (let i = 0; i < (await boxes.count()); i += 1) {
      const box = boxes.nth(i);
      values.push(await box.getAttribute('value'));
      // Consent is the person's act: nothing is ticked for them.
      if (await box.isChecked()) fail(`the item ${values.at(-1)} is ticked before the person ticks it`);
    }
    for (const item of ITEMS) {
      if (!values.includes(item)) fail(`the consent page offers ${values.join(', ')}, not ${item}`);
    }

    step('the person ticks every item and allows');
    for (let i = 0; i < (await boxes.count()); i += 1) await boxes.nth(i).check();
    await click(page, button(page, 'Permitir'));

    step('the bank shows what it received and that the seal verified');
    await expectVisible(page, heading(page, 'Cuenta abierta'), "the bank's account page");
    if (!page.url().startsWith(bank)) fail(`expected the bank's site, the browser is at ${page.url()}`);
    const received = await page.locator('#received').innerText();
    for (const part of [env.curp, env.street, env.colonia, env.postalCode, 'Alcaldía Cuauhtémoc', 'Sello de Alcaldía Cuauhtémoc verificado']) {
      if (!received.includes(part)) fail(`the bank's page does not show "${part}":\n${received}`);
    }
    const name = (await page.locator('#received .name').innerText()).trim();
    if (!name) fail('the bank shows no name');
    if (received.includes('no se pudo verificar')) fail(`a seal did not verify:\n${received}`);

    step('in llave, the file lists the consent under "Permisos a empresas", with its fetch');
    await page.goto(`${env.base}/expediente`);
    const companies = () =>
      page.locator('section').filter({ has: page.getByRole('heading', { level: 2, name: 'Permisos a empresas', exact: true }) });
    await expectVisible(page, companies(), 'the section "Permisos a empresas"');
    const consent = () => companies().locator('article').filter({ hasText: LEGAL_NAME });
    // The button says "Revocar" (and, for screen readers, whose consent it is).
    const revoke = consent().getByRole('button', { name: /^Revocar\b/ });
    await expectVisible(page, revoke, "the bank's consent, revocable");
    const consentText = await consent().first().innerText();
    for (const part of ['Activo', 'Abrir una cuenta bancaria', 'Consultas: 1']) {
      if (!consentText.includes(part)) fail(`the consent does not show "${part}":\n${consentText}`);
    }

    step('the person revokes it');
    await click(page, revoke.first());
    await expectVisible(page, consent().getByText('Revocado', { exact: true }), 'the consent shown as revoked');

    step('at the bank, "Consultar de nuevo" is refused by llave');
    await page.goto(bank);
    await expectVisible(page, heading(page, 'Cuenta abierta'), "the bank's account page");
    await click(page, button(page, 'Consultar de nuevo'));
    await expectVisible(page, page.locator('#again-result').getByText('Llave rechazó la consulta'), 'the refusal');
    const again = await page.locator('#again').innerText();
    if (!/invalid_token|consent_revoked/.test(again)) fail(`the refusal names no revocation code:\n${again}`);
    if (!again.includes('Estado del permiso en Llave: revocado')) fail(`grant management does not say revoked:\n${again}`);

    step("llave's signed notice of the revocation reached the bank");
    // Llave delivers it through its outbox, after the revocation answered: reload until it
    // is in (a bounded wait, as for the mail queue).
    const notice = page.locator('#notice');
    for (let i = 0; i < 40 && (await notice.count()) === 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      await page.goto(bank);
    }
    await expectVisible(page, notice, "llave's notice on the bank's page");
    const said = await notice.innerText();
    if (!said.includes('Llave nos avisó: la persona revocó su permiso.')) fail(`the notice says: ${said}`);

    step("in llave, the file counts the bank's refused fetch");
    await page.goto(`${env.base}/expediente`);
    const revoked = await consent().first().innerText();
    if (!revoked.includes('Consultas rechazadas: 1')) fail(`the file does not count the refusal:\n${revoked}`);
  } catch (error) {
    error.page = page;
    throw error;
  } finally {
    await context.close();
  }
});
