// The public catalog in a real browser (Debian's Chromium driven by playwright-core), with
// JavaScript disabled and no account: from the home page, one search finds the driver's
// licence and its page says what to bring and where to start; browsing by topic reaches it
// in two clicks; the English switch works; the open-data CSV downloads.
//
// Run by crates/llave/tests/integration/browser.rs, which starts llave with the demo
// catalog and passes BASE_URL (and CHROMIUM, optional).
// Exits 0 when every step passed; otherwise 1, naming the failed step and a screenshot.

import { TIMEOUT_MS, click, expectVisible, fail, heading, required, run, step } from './lib.mjs';

const base = required('BASE_URL').replace(/\/+$/, '');

async function visit(browser) {
  const context = await browser.newContext({ javaScriptEnabled: false, locale: 'es-MX' });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  try {
    step('one search from the home page finds the driver\'s licence');
    await page.goto(`${base}/`);
    await page.getByLabel('Busca un trámite o servicio', { exact: true }).fill('licencias de conducir');
    await click(page, page.getByRole('button', { name: 'Buscar', exact: true }));
    await expectVisible(page, heading(page, 'Trámites y servicios'), 'the catalog page');
    const result = page.getByRole('link', { name: 'Licencia de conducir', exact: true });
    await expectVisible(page, result, 'the result "Licencia de conducir"');

    step('its page says what to bring, what it costs, the level, and where to start');
    await click(page, result);
    await expectVisible(page, heading(page, 'Licencia de conducir'), 'the procedure page');
    const needs = page.getByRole('region', { name: 'Qué necesitas' });
    await expectVisible(page, needs.getByText('Identificación oficial'), 'the official ID requirement');
    await expectVisible(page, needs.getByText('Comprobante de domicilio'), 'the proof of residence');
    await expectVisible(page, page.getByText('$1,500.00 MXN'), 'the cost, the Mexican way');
    await expectVisible(page, page.getByText('Llave Verificada (identidad comprobada)'), 'the level needed');
    const start = page.getByRole('link', { name: 'Iniciar en el sitio de Secretaría de Movilidad', exact: true });
    await expectVisible(page, start, 'the link to start at the entity');
    const href = await start.getAttribute('href');
    if (!href?.startsWith('https://')) fail(`the start link goes to ${href}`);

    step('browsing by topic reaches it in two clicks from the home page');
    await page.goto(`${base}/`);
    await click(page, page.getByRole('link', { name: 'Ver todos los trámites', exact: true }));
    await click(page, page.getByRole('region', { name: 'Por tema' }).getByRole('link', { name: 'licencias', exact: true }));
    await expectVisible(page, page.getByRole('link', { name: 'Licencia de conducir', exact: true }), 'the licence under its topic');

    step('a search that finds nothing says so');
    await page.goto(`${base}/tramites?q=zzzz`);
    await expectVisible(page, page.getByText('No encontramos trámites con esas palabras', { exact: false }), 'the empty message');

    step('the English switch');
    await page.goto(`${base}/tramites/pago-de-agua`);
    await click(page, page.getByRole('link', { name: 'English', exact: true }));
    await expectVisible(page, page.getByRole('heading', { level: 2, name: 'About this procedure', exact: true }), 'the English page');

    step('the open-data CSV downloads');
    const response = await page.request.get(`${base}/datos/catalogo.csv`);
    if (response.status() !== 200) fail(`the CSV answered ${response.status()}`);
    const csv = await response.text();
    if (!csv.includes('licencia-de-conducir')) fail('the CSV lacks the licence');
  } catch (error) {
    error.page = page;
    throw error;
  }
  await context.close();
}

await run(visit);
