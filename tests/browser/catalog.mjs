// The public catalog in a real browser (Debian's Chromium driven by playwright-core), with
// JavaScript disabled and no account: from the home page, one search finds the driver's
// licence and its page says what to bring and where to start; browsing by topic reaches it
// in two clicks; the English switch works; the open-data CSV downloads.
//
// Run by crates/llave/tests/integration/browser.rs, which starts llave with the demo
// catalog and passes BASE_URL (and CHROMIUM, optional).
// Exits 0 when every step passed; otherwise 1, naming the failed step and a screenshot.

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const TIMEOUT_MS = 20_000;
const base = (process.env.BASE_URL ?? '').replace(/\/+$/, '');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

class StepFailure extends Error {}
let currentStep = 'starting';
function step(name) {
  currentStep = name;
  console.log(`- ${name}`);
}
function fail(message) {
  throw new StepFailure(message);
}

async function expectVisible(page, locator, what) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  } catch {
    const main = await page.locator('main').innerText({ timeout: 1000 }).catch(() => '(no <main>)');
    fail(`expected ${what} on ${page.url()}, the page says:\n${main}`);
  }
}

async function click(page, locator) {
  await Promise.all([page.waitForEvent('framenavigated', { timeout: TIMEOUT_MS }), locator.click()]);
  await page.waitForLoadState('load');
}

const heading = (page, name) => page.getByRole('heading', { level: 1, name, exact: true });

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
    await expectVisible(page, page.getByText('$1500.00 MXN'), 'the cost');
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

async function main() {
  let browser;
  try {
    browser = await chromium.launch({
      executablePath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  } catch (error) {
    console.error(`FAIL: could not start ${executablePath}: ${error.message}`);
    process.exitCode = 1;
    return;
  }
  try {
    await visit(browser);
    console.log('ok: every step passed');
  } catch (error) {
    process.exitCode = 1;
    const detail = error instanceof StepFailure ? error.message : error.stack || String(error);
    console.error(`FAIL at step "${currentStep}": ${detail}`);
    if (error.page) {
      const shot = join(tmpdir(), `llave-catalog-${Date.now()}.png`);
      await error.page.screenshot({ path: shot, fullPage: true }).then(() => console.error(`screenshot: ${shot}`)).catch(() => {});
    }
  } finally {
    await browser.close().catch(() => {});
  }
}

await main();
