// Help at the counter (issue 14, item 11), with JavaScript off: an officer signs in with
// their second factor, opens an account for a person who is present and has no e-mail,
// prints the sheet (CURP and activation code on it; on paper only the sheet); then, on a
// phone-sized browser, the person goes to /activar, types their CURP, the code and a new
// password, and lands signed in on "Mi cuenta", which says who helped them.
//
// Run by crates/llave/tests/integration/browser.rs:
//   BASE_URL                          llave
//   OFFICER_CURP OFFICER_PASSWORD     an officer with an authenticator app, at OFFICE
//   OFFICER_RECOVERY_CODE             one of their unused recovery codes
//   OFFICER_NAME OFFICE               as the person reads them
//   CURP GIVEN_NAMES FIRST_SURNAME SECOND_SURNAME BIRTH_DATE   the person (no account yet)
//   PASSWORD                          the password the person chooses
// Exits 0 when every step passed; otherwise 1, naming the failed step and a screenshot.

import { TIMEOUT_MS, click, expectVisible, fail, heading, required, run, step } from './lib.mjs';

const env = {
  base: required('BASE_URL').replace(/\/+$/, ''),
  officerCurp: required('OFFICER_CURP'),
  officerPassword: required('OFFICER_PASSWORD'),
  officerRecoveryCode: required('OFFICER_RECOVERY_CODE'),
  officerName: required('OFFICER_NAME'),
  office: required('OFFICE'),
  curp: required('CURP'),
  givenNames: required('GIVEN_NAMES'),
  firstSurname: required('FIRST_SURNAME'),
  secondSurname: required('SECOND_SURNAME'),
  birthDate: required('BIRTH_DATE'),
  password: required('PASSWORD'),
};

const label = (page, text) => page.getByLabel(text, { exact: true });
const button = (page, name) => page.getByRole('button', { name, exact: true });

run(async (browser) => {
  const desk = await browser.newContext({ javaScriptEnabled: false, locale: 'es-MX' });
  desk.setDefaultTimeout(TIMEOUT_MS);
  const officer = await desk.newPage();
  let code;
  try {
    step('the officer signs in with a recovery code as second factor');
    await officer.goto(`${env.base}/signin`);
    await label(officer, 'CURP o correo electrónico').fill(env.officerCurp);
    await label(officer, 'Contraseña').fill(env.officerPassword);
    await click(officer, button(officer, 'Iniciar sesión'));
    await officer.getByText('Usar un código de recuperación').click();
    const second = officer.locator('form:has(input[name="recovery_code"])');
    await second.getByLabel('Código de recuperación').fill(env.officerRecoveryCode);
    await click(officer, second.getByRole('button', { name: 'Continuar' }));

    step('the desk offers to open an account');
    await officer.goto(`${env.base}/oficina`);
    await click(officer, officer.getByRole('link', { name: 'Abrir una cuenta para una persona que está aquí' }));
    await expectVisible(officer, heading(officer, 'Abrir una cuenta en el módulo'), 'the open-account form');

    step('the officer opens an account for a person without e-mail, with a printed code');
    await label(officer, 'CURP').fill(env.curp);
    await label(officer, 'Nombre(s)').fill(env.givenNames);
    await label(officer, 'Primer apellido').fill(env.firstSurname);
    await label(officer, 'Segundo apellido').fill(env.secondSurname);
    await label(officer, 'Fecha de nacimiento').fill(env.birthDate);
    await label(officer, 'Identificación oficial').selectOption('ine');
    await label(officer, 'Número o clave del documento').fill('IDMEX7788990011');
    await label(officer, 'Revisé en persona el documento original y corresponde a la persona').check();
    await label(officer, 'Con un código de activación impreso (vale 72 horas)').check();
    await click(officer, button(officer, 'Abrir cuenta'));

    step('the sheet has the CURP and the activation code');
    await expectVisible(officer, heading(officer, 'Tu cuenta Llave CDMX'), 'the sheet');
    const curp = (await officer.locator('#sheet-curp').innerText()).trim();
    if (curp !== env.curp) fail(`the sheet shows the CURP ${curp}, not ${env.curp}`);
    code = (await officer.locator('#sheet-code').innerText()).trim();
    if (!/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/.test(code)) fail(`the sheet's code looks wrong: ${code}`);
    await expectVisible(officer, officer.getByText(`${env.base}/activar`), 'the activation address');
    await expectVisible(officer, officer.getByText(`Te atendió ${env.officerName}, ${env.office}.`), 'who helped');

    step('printed, the sheet is all there is on the page');
    await officer.emulateMedia({ media: 'print' });
    if (await officer.locator('header').isVisible()) fail('the site header would be printed');
    if (await officer.getByRole('link', { name: 'Volver al módulo' }).isVisible()) fail('the desk links would be printed');
    await expectVisible(officer, officer.locator('#sheet-code'), 'the code on paper');
    for (const format of ['Letter', 'A4']) {
      const pdf = (await officer.pdf({ format, printBackground: false })).toString('latin1');
      const pages = (pdf.match(/\/Type\s*\/Page(?!s)/g) || []).length;
      if (pages !== 1) fail(`the sheet prints on ${pages} ${format} pages, not one`);
    }
  } catch (error) {
    error.page = officer;
    throw error;
  } finally {
    await desk.close();
  }

  const phone = await browser.newContext({
    javaScriptEnabled: false,
    locale: 'es-MX',
    viewport: { width: 360, height: 640 },
    isMobile: true,
    hasTouch: true,
  });
  phone.setDefaultTimeout(TIMEOUT_MS);
  const page = await phone.newPage();
  try {
    step('on a phone, the person activates the account with the code');
    await page.goto(`${env.base}/activar`);
    await expectVisible(page, heading(page, 'Activar tu cuenta'), 'the activation page');
    await label(page, 'CURP').fill(env.curp);
    await label(page, 'Código de activación').fill(code.toLowerCase());
    await label(page, 'Nueva contraseña').fill(env.password);
    await label(page, 'Repite la contraseña').fill(env.password);
    await click(page, button(page, 'Activar y entrar'));

    step('signed in, "Mi cuenta" shows level 2 and who helped');
    await expectVisible(page, heading(page, 'Mi cuenta'), 'the account page');
    await expectVisible(page, page.getByText('Nivel 2: Llave Verificada').first(), 'level 2');
    const helped = page.getByText(`con ayuda de ${env.officerName}, ${env.office}`, { exact: false }).first();
    await expectVisible(page, helped, '"con ayuda de" the officer and the office');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width > 360) fail(`"Mi cuenta" scrolls sideways on the phone (${width} px)`);
  } catch (error) {
    error.page = page;
    throw error;
  } finally {
    await phone.close();
  }
});
