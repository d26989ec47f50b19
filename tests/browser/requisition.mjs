// Accountable requisitions on the pages, JavaScript off: a requester files for their
// authority with a 30-day non-disclosure order at /requisiciones; approver A approves and
// cannot approve again (the page says so, and a second POST is refused with an error page);
// approver B approves; the requester sees it approved and downloads the package (saved to
// PACKAGE_FILE, which the Rust side decrypts and verifies with openssl). Each staff member
// signs in with a second factor (a recovery code). requisition_after.mjs then checks the
// person's file and the staff page as the clock moves.
//
// Environment: BASE_URL, PERSON_CURP (whose records are asked for), ORDER_END (YYYY-MM-DD,
// 30 days ahead), and for REQUESTER, APPROVER_A, APPROVER_B: <NAME>_CURP, <NAME>_PASSWORD,
// <NAME>_CODE and <NAME>_CODE_2 (unused recovery codes, one per sign-in).

import { TIMEOUT_MS, click, expectVisible, fail, heading, required, run, step } from './lib.mjs';

const env = {
  base: required('BASE_URL'),
  personCurp: required('PERSON_CURP'),
  orderEnd: required('ORDER_END'),
  packageFile: required('PACKAGE_FILE'),
};
const staff = (name, second = false) => ({
  curp: required(`${name}_CURP`),
  password: required(`${name}_PASSWORD`),
  code: required(second ? `${name}_CODE_2` : `${name}_CODE`),
});

const label = (page, text) => page.getByLabel(text, { exact: true });
const button = (page, name) => page.getByRole('button', { name, exact: true });

async function expectText(page, text, what) {
  await expectVisible(page, page.getByText(text, { exact: false }), what || `"${text}"`);
}

/** A staff member's own browser, signed in with a recovery code, on /requisiciones. */
async function signedIn(browser, who) {
  const context = await browser.newContext({ locale: 'es-MX', javaScriptEnabled: false });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  await page.goto(`${env.base}/signin`);
  await label(page, 'CURP o correo electrónico').fill(who.curp);
  await label(page, 'Contraseña').fill(who.password);
  await click(page, button(page, 'Iniciar sesión'));
  await page.getByText('Usar un código de recuperación').click();
  const second = page.locator('form:has(input[name="recovery_code"])');
  await second.getByLabel('Código de recuperación').fill(who.code);
  await click(page, second.getByRole('button', { name: 'Continuar' }));
  await page.goto(`${env.base}/requisiciones`);
  await expectVisible(page, heading(page, 'Requisiciones de autoridades'), 'the requisitions page');
  return { context, page };
}

async function within(session, body) {
  try {
    await body(session.page);
  } catch (error) {
    error.page = session.page;
    throw error;
  } finally {
    await session.context.close();
  }
}

run(async (browser) => {
  step('the requester files with a 30-day non-disclosure order');
  await within(await signedIn(browser, staff('REQUESTER')), async (page) => {
    // Submitted empty first: every problem is listed and tied to its field.
    await click(page, button(page, 'Presentar la requisición'));
    await expectVisible(page, page.locator('.error-summary'), 'the error summary');
    if ((await page.locator('#curp[aria-invalid="true"]').count()) !== 1) fail('the CURP field is not marked invalid');
    await label(page, 'CURP de la persona').fill(env.personCurp);
    await page.getByLabel('Comprobante de domicilio').check();
    await label(page, 'Desde').fill('2020-01-01');
    await label(page, 'Hasta').fill('2099-12-31');
    await label(page, 'Ley').fill('Código Nacional de Procedimientos Penales');
    await label(page, 'Artículo').fill('Art. 252');
    await label(page, 'Expediente, carpeta o causa').fill('CI-NAV/30/2026');
    await label(page, 'Justificación').fill('Investigación de un fraude: domicilio declarado por la persona.');
    await label(page, 'Reserva hasta (opcional)').fill(env.orderEnd);
    await click(page, button(page, 'Presentar la requisición'));
    await expectText(page, 'Requisición presentada');
    await expectText(page, 'Aprobaciones: 0 de 2');
  });

  step('approver A approves');
  await within(await signedIn(browser, staff('APPROVER_A')), async (page) => {
    const item = page.locator('article.requisition', { hasText: 'CI-NAV/30/2026' });
    await expectVisible(page, item, 'the pending requisition');
    const action = await item.locator('form[action$="/aprobar"]').getAttribute('action');
    await click(page, item.getByRole('button', { name: 'Aprobar', exact: true }));
    await expectText(page, 'Aprobación registrada');

    step('approver A cannot approve again');
    const again = page.locator('article.requisition', { hasText: 'CI-NAV/30/2026' });
    await expectText(page, 'Ya la aprobaste');
    if ((await again.getByRole('button', { name: 'Aprobar', exact: true }).count()) !== 0) {
      fail('the page still offers A the Aprobar button');
    }
    // Posting anyway (a stale page, a second tab) is refused with a page that says why.
    const csrf = await page.locator('input[name="csrf_token"]').first().inputValue();
    const answer = await page.request.post(`${env.base}${action}`, { form: { csrf_token: csrf }, maxRedirects: 0 });
    if (answer.status() !== 409) fail(`a second approval by A answered ${answer.status()}, not 409`);
    if (!(await answer.text()).includes('la segunda aprobación debe darla otra persona')) {
      fail('the refusal does not say why');
    }
  });

  step('approver B approves');
  await within(await signedIn(browser, staff('APPROVER_B')), async (page) => {
    const item = page.locator('article.requisition', { hasText: 'CI-NAV/30/2026' });
    await click(page, item.getByRole('button', { name: 'Aprobar', exact: true }));
    await expectText(page, 'Aprobación registrada');
    if ((await page.locator('article.requisition', { hasText: 'CI-NAV/30/2026' }).count()) !== 0) {
      fail('an approved requisition is still listed as pending');
    }
  });

  step('the requester sees it approved and downloads its package');
  await within(await signedIn(browser, staff('REQUESTER', true)), async (page) => {
    const item = page.locator('article.requisition', { hasText: 'CI-NAV/30/2026' });
    await expectVisible(page, item.getByText('Aprobaciones: 2 de 2'), 'two approvals');
    const download = item.getByRole('button', { name: 'Descargar el paquete', exact: true });
    await expectVisible(page, download, 'the download');
    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    await file.saveAs(env.packageFile);
  });
});
