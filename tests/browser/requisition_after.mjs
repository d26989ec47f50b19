// After requisition.mjs, as the clock moves (the Rust side advances it): the person signs
// in and looks at their file, which must not show the requisition while the non-disclosure
// order runs (EXPECT=hidden) and must show it once it ended (EXPECT=shown: the authority,
// the legal basis, the case number, what was delivered). With APPROVER_CURP set, that
// approver signs in (recovery code APPROVER_CODE) and the requisitions page must flag the
// destruction attestation the authority has not given by its deadline. JavaScript off.
//
// Environment: BASE_URL, PERSON_CURP, PERSON_PASSWORD, EXPECT (hidden | shown), CASE_NUMBER;
// optionally APPROVER_CURP, APPROVER_PASSWORD, APPROVER_CODE.

import { TIMEOUT_MS, click, expectVisible, fail, heading, required, run, step } from './lib.mjs';

const env = {
  base: required('BASE_URL'),
  curp: required('PERSON_CURP'),
  password: required('PERSON_PASSWORD'),
  expect: required('EXPECT'),
  caseNumber: required('CASE_NUMBER'),
  approver: process.env.APPROVER_CURP,
};
if (env.expect !== 'hidden' && env.expect !== 'shown') fail(`EXPECT must be hidden or shown, not ${env.expect}`);

const label = (page, text) => page.getByLabel(text, { exact: true });
const button = (page, name) => page.getByRole('button', { name, exact: true });

run(async (browser) => {
  step(`the person's file: the requisition is ${env.expect}`);
  const context = await browser.newContext({ locale: 'es-MX', javaScriptEnabled: false, viewport: { width: 360, height: 640 } });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  try {
    await page.goto(`${env.base}/signin`);
    await label(page, 'CURP o correo electrónico').fill(env.curp);
    await label(page, 'Contraseña').fill(env.password);
    await click(page, button(page, 'Iniciar sesión'));
    await page.goto(`${env.base}/expediente`);
    const body = await page.locator('main').innerText();
    if (env.expect === 'hidden') {
      if (body.includes(env.caseNumber)) fail('the file shows the requisition while its non-disclosure order runs');
    } else {
      for (const part of [env.caseNumber, 'Código Nacional de Procedimientos Penales', 'Qué se entregó']) {
        if (!body.includes(part)) fail(`the file does not show "${part}" after the order ended`);
      }
    }
  } catch (error) {
    error.page = page;
    throw error;
  } finally {
    await context.close();
  }

  if (!env.approver) return;
  step('the staff page flags the missed destruction attestation');
  const staff = await browser.newContext({ locale: 'es-MX', javaScriptEnabled: false });
  staff.setDefaultTimeout(TIMEOUT_MS);
  const desk = await staff.newPage();
  try {
    await desk.goto(`${env.base}/signin`);
    await label(desk, 'CURP o correo electrónico').fill(env.approver);
    await label(desk, 'Contraseña').fill(required('APPROVER_PASSWORD'));
    await click(desk, button(desk, 'Iniciar sesión'));
    await desk.getByText('Usar un código de recuperación').click();
    const second = desk.locator('form:has(input[name="recovery_code"])');
    await second.getByLabel('Código de recuperación').fill(required('APPROVER_CODE'));
    await click(desk, second.getByRole('button', { name: 'Continuar' }));
    await desk.goto(`${env.base}/requisiciones`);
    await expectVisible(desk, heading(desk, 'Requisiciones de autoridades'), 'the requisitions page');
    await expectVisible(
      desk,
      desk.getByText('Vencida: la autoridad no ha dado constancia de destrucción', { exact: false }),
      'the overdue attestation flag',
    );
  } catch (error) {
    error.page = desk;
    throw error;
  } finally {
    await staff.close();
  }
});
