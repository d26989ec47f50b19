// Signing through the real pages, with a passkey on Chromium's virtual authenticator: a
// verified person adds a passkey, signs a document of their own at /firma and downloads the
// .p7s, verifies it at /verificar, then signs what an entity asked for and is sent back to
// the entity with a code.
//
// Environment: BASE_URL (a localhost address), CURP, PASSWORD, DOCUMENT (a file to sign),
// OUT_P7S (where to save the downloaded signature), SIGN_URL (the entity's request),
// ENTITY_NAME.

import { readFile } from 'node:fs/promises';
import { TIMEOUT_MS, addVirtualAuthenticator, click, expectVisible, fail, heading, required, run, step } from './lib.mjs';

const env = {
  base: required('BASE_URL'),
  curp: required('CURP'),
  password: required('PASSWORD'),
  document: required('DOCUMENT'),
  outP7s: required('OUT_P7S'),
  signUrl: required('SIGN_URL'),
  entityName: required('ENTITY_NAME'),
};

const button = (page, name) => page.getByRole('button', { name, exact: true });

run(async (browser) => {
  const context = await browser.newContext({ locale: 'es-MX', acceptDownloads: true });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  await addVirtualAuthenticator(context, page);
  try {
    step('the verified person signs in and adds a passkey');
    await page.goto(`${env.base}/signin`);
    await page.getByLabel('CURP o correo electrónico', { exact: true }).fill(env.curp);
    await page.getByLabel('Contraseña', { exact: true }).fill(env.password);
    await click(page, button(page, 'Iniciar sesión'));
    await click(page, button(page, 'Agregar llave de acceso'));
    await expectVisible(page, page.getByText('Agregamos tu llave de acceso.'), 'the passkey notice');

    step('the person uploads a document at /firma and sees its name and fingerprint');
    await page.goto(`${env.base}/firma`);
    const bytes = await readFile(env.document);
    await page.getByLabel('Documento que vas a firmar', { exact: true }).setInputFiles({
      name: 'contrato.pdf',
      mimeType: 'application/pdf',
      buffer: bytes,
    });
    await click(page, button(page, 'Continuar'));
    await expectVisible(page, heading(page, 'Confirma tu firma'), 'the confirmation page');
    const shown = await page.locator('#document-name').innerText();
    if (shown !== 'contrato.pdf') fail(`the page names the document ${shown}`);
    const fingerprint = await page.locator('#fingerprint').innerText();
    if (!/^[0-9a-f]{64}$/.test(fingerprint)) fail(`the fingerprint shown is ${fingerprint}`);

    step('the passkey confirms the signature; the .p7s downloads');
    await click(page, button(page, 'Firmar con mi llave de acceso'));
    await expectVisible(page, heading(page, 'Mi firma electrónica'), 'the signature page');
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: TIMEOUT_MS }),
      page.getByRole('link', { name: 'Descargar firma (.p7s)' }).first().click(),
    ]);
    await download.saveAs(env.outP7s);

    step('anyone verifies it at /verificar');
    await page.goto(`${env.base}/verificar`);
    await page.getByLabel('Documento firmado', { exact: true }).setInputFiles(env.document);
    await page.getByLabel('Firma (.p7s)', { exact: true }).setInputFiles(env.outP7s);
    await click(page, button(page, 'Verificar'));
    await expectVisible(page, page.getByRole('heading', { name: 'Firma válida' }), 'the verdict "Firma válida"');
    const curp = await page.locator('#signer-curp').innerText();
    if (!curp.startsWith(env.curp.slice(0, 4)) || !curp.endsWith(env.curp.slice(-2)) || curp.includes(env.curp.slice(4, 10))) {
      fail(`the CURP is shown as ${curp}`);
    }

    step('the entity asks for a signature; the passkey signs; back to the entity');
    await page.goto(env.signUrl);
    await expectVisible(page, page.getByRole('heading', { name: `${env.entityName} te pide firmar un documento` }), 'the request page');
    await click(page, button(page, 'Firmar con mi llave de acceso'));
    await expectVisible(page, heading(page, 'Entidad de prueba'), "the entity's page");
  } catch (error) {
    error.page = page;
    throw error;
  } finally {
    await context.close();
  }
});
