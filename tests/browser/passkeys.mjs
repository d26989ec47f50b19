// Levels of assurance in a real browser: a new person signs up (level 1), an officer
// verifies them at the service-centre pages (level 2), the person adds a passkey through
// Chromium's virtual authenticator (DevTools WebAuthn domain) and passes the level-3 step-up
// an entity asks for; every step shows on the account page. Then a sign-in with the passkey
// alone.
//
// Environment: BASE_URL (llave, at a localhost address), OUTBOX, CURP, GIVEN_NAMES,
// FIRST_SURNAME, SECOND_SURNAME, BIRTH_DATE, EMAIL, PASSWORD (the new person),
// OFFICER_CURP, OFFICER_PASSWORD, AUTHORIZE_URL (the entity's request for urn:llave:loa:3),
// ENTITY_NAME.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TIMEOUT_MS, addVirtualAuthenticator, click, expectVisible, fail, heading, required, run, step } from './lib.mjs';

const env = {
  base: required('BASE_URL'),
  outbox: required('OUTBOX'),
  curp: required('CURP'),
  givenNames: required('GIVEN_NAMES'),
  firstSurname: required('FIRST_SURNAME'),
  secondSurname: required('SECOND_SURNAME'),
  birthDate: required('BIRTH_DATE'),
  email: required('EMAIL'),
  password: required('PASSWORD'),
  officerCurp: required('OFFICER_CURP'),
  officerPassword: required('OFFICER_PASSWORD'),
  officerRecoveryCode: required('OFFICER_RECOVERY_CODE'),
  authorizeUrl: required('AUTHORIZE_URL'),
  entityName: required('ENTITY_NAME'),
};

const label = (page, text) => page.getByLabel(text, { exact: true });
const button = (page, name) => page.getByRole('button', { name, exact: true });

async function confirmationLink() {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const names = (await readdir(env.outbox).catch(() => [])).filter((n) => n.endsWith('.eml')).sort();
    for (const name of names.reverse()) {
      const text = await readFile(join(env.outbox, name), 'utf8');
      const match = text.match(/https?:\/\/\S+\/confirm\?token=\S+/);
      if (match && text.includes(env.email)) return match[0];
    }
    if (Date.now() > deadline) fail(`no confirmation mail to ${env.email} in ${env.outbox}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function signIn(page, curp, password) {
  await page.goto(`${env.base}/signin`);
  await label(page, 'CURP o correo electrónico').fill(curp);
  await label(page, 'Contraseña').fill(password);
  await click(page, button(page, 'Iniciar sesión'));
}

async function expectText(page, text, what) {
  await expectVisible(page, page.getByText(text, { exact: false }), what || `"${text}"`);
}

run(async (browser) => {
  const person = await browser.newContext({ locale: 'es-MX' });
  person.setDefaultTimeout(TIMEOUT_MS);
  const page = await person.newPage();
  await addVirtualAuthenticator(person, page);
  try {
    step('a new person signs up and confirms the e-mail');
    await page.goto(`${env.base}/signup`);
    await label(page, 'CURP').fill(env.curp);
    await label(page, 'Nombre(s)').fill(env.givenNames);
    await label(page, 'Primer apellido').fill(env.firstSurname);
    await label(page, 'Segundo apellido').fill(env.secondSurname);
    await label(page, 'Fecha de nacimiento').fill(env.birthDate);
    await label(page, 'Correo electrónico').fill(env.email);
    await label(page, 'Contraseña').fill(env.password);
    await click(page, button(page, 'Crear cuenta'));
    await page.goto(await confirmationLink());

    step('signed in, the account page shows level 1');
    await signIn(page, env.curp, env.password);
    await expectVisible(page, heading(page, 'Mi cuenta'), 'the account page');
    await expectText(page, 'Nivel 1: Llave');

    step('an officer verifies the person at the service-centre pages');
    const desk = await browser.newContext({ locale: 'es-MX' });
    desk.setDefaultTimeout(TIMEOUT_MS);
    const officer = await desk.newPage();
    try {
      await signIn(officer, env.officerCurp, env.officerPassword);
      // Officers act with a second factor (here, one of their recovery codes).
      await officer.getByText('Usar un código de recuperación').click();
      const second = officer.locator('form:has(input[name="recovery_code"])');
      await second.getByLabel('Código de recuperación').fill(env.officerRecoveryCode);
      await click(officer, second.getByRole('button', { name: 'Continuar' }));
      await officer.goto(`${env.base}/oficina`);
      await label(officer, 'CURP de la persona').fill(env.curp);
      await click(officer, button(officer, 'Buscar'));
      await expectText(officer, env.givenNames, "the person's name");
      const form = officer.locator('form[action="/oficina/verificar"]');
      await form.getByLabel('Identificación oficial').selectOption('ine');
      await form.getByLabel('Número o clave del documento').fill('IDMEX1234567890');
      await form.getByLabel('Revisé en persona el documento original y corresponde a la persona').check();
      await click(officer, form.getByRole('button', { name: 'Marcar identidad verificada' }));
      await expectText(officer, 'Identidad verificada y registrada.');
    } catch (error) {
      error.page = officer;
      throw error;
    } finally {
      await desk.close();
    }

    step('the person sees level 2 and who verified them');
    await page.goto(`${env.base}/account`);
    await expectText(page, 'Nivel 2: Llave Verificada');
    await expectText(page, env.officerCurp, "the officer's CURP");

    step('the person adds a passkey with the virtual authenticator');
    await label(page, 'Nombre de la llave de acceso nueva').fill('Laptop de prueba');
    await click(page, button(page, 'Agregar llave de acceso'));
    await expectText(page, 'Agregamos tu llave de acceso.');
    await expectVisible(page, page.locator('.passkey-name', { hasText: 'Laptop de prueba' }), 'the passkey in the list');

    step('the entity asks for level 3: the step-up page, then the passkey');
    await page.goto(env.authorizeUrl);
    await expectVisible(page, heading(page, 'Esta entidad pide más seguridad'), 'the step-up page');
    await click(page, button(page, 'Confirmar con mi llave de acceso'));
    await expectVisible(page, heading(page, `${env.entityName} quiere usar tu cuenta Llave`), 'the consent page');
    await click(page, button(page, 'Permitir'));
    await expectVisible(page, heading(page, 'Entidad de prueba'), "the entity's page");

    step('every step is on the account page');
    await page.goto(`${env.base}/account`);
    for (const event of ['Cuenta creada', 'Correo confirmado', 'Identidad verificada', 'Llave de acceso agregada',
      'Identidad confirmada en el momento (nivel 3)']) {
      await expectVisible(page, page.locator('table.history td', { hasText: event }), `"${event}" in the history`);
    }

    step('signed out, the person signs in with the passkey alone');
    await click(page, button(page, 'Cerrar sesión'));
    await page.goto(`${env.base}/signin`);
    await click(page, button(page, 'Entrar con llave de acceso'));
    await expectVisible(page, heading(page, 'Mi cuenta'), 'the account page after the passkey sign-in');
    await expectText(page, 'Nivel 3');
  } catch (error) {
    error.page = error.page || page;
    throw error;
  } finally {
    await person.close();
  }
});
