// What the browser scripts share: named steps, failures that say what the page showed, and
// a run of Chromium (flags from the project's standards) that ends in a screenshot when a
// step fails. Each script calls `run(async (browser) => { … })` and exits 0 only if every
// step passed.

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const TIMEOUT_MS = 20_000;

class StepFailure extends Error {}

let currentStep = 'starting';

/** Names the step about to run (printed, and named if it fails). */
export function step(name) {
  currentStep = name;
  console.log(`- ${name}`);
}

export function fail(message) {
  throw new StepFailure(message);
}

/** Waits until `locator` is visible; fails with `what` and the page's text otherwise. */
export async function expectVisible(page, locator, what) {
  try {
    await locator.first().waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  } catch {
    const main = page.locator('main');
    const text = await ((await main.count()) > 0 ? main.first() : page.locator('body'))
      .innerText({ timeout: 1000 })
      .catch(() => '(no text)');
    fail(`expected ${what} on ${page.url()}, the page says:\n${text}`);
  }
}

export function heading(page, name) {
  return page.getByRole('heading', { level: 1, name, exact: true });
}

/** Clicks something that navigates, and waits for the new page to load. */
export async function click(page, locator) {
  await Promise.all([page.waitForEvent('framenavigated', { timeout: TIMEOUT_MS }), locator.click()]);
  await page.waitForLoadState('load');
}

/** Runs `body` on a fresh headless Chromium; on failure names the step and saves a screenshot
 * of the page the error carries (`error.page`). Sets the exit status. */
export async function run(body, executablePath = process.env.CHROMIUM || '/usr/bin/chromium') {
  let browser;
  try {
    browser = await chromium.launch({
      executablePath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (error) {
    console.error(`FAIL: could not start ${executablePath} (apt-get install -y chromium): ${error.message}`);
    process.exitCode = 1;
    return;
  }
  try {
    await body(browser);
    console.log('ok: every step passed');
  } catch (error) {
    process.exitCode = 1;
    const detail = error instanceof StepFailure ? error.message : error.stack || String(error);
    console.error(`FAIL at step "${currentStep}": ${detail}`);
    if (error.page) {
      const shot = join(tmpdir(), `llave-browser-${Date.now()}.png`);
      try {
        await error.page.screenshot({ path: shot, fullPage: true });
        console.error(`screenshot: ${shot}`);
      } catch (shotError) {
        console.error(`(no screenshot: ${shotError.message})`);
      }
    }
  } finally {
    await browser.close().catch(() => {});
  }
}

/** An environment variable the script cannot run without. */
export function required(name) {
  const value = process.env[name];
  if (value === undefined) throw new Error(`environment variable ${name} is not set`);
  return value;
}

/** Gives `page` a platform authenticator through the DevTools WebAuthn domain: resident
 * keys, user verification that always succeeds, presence simulated. */
export async function addVirtualAuthenticator(context, page) {
  const devtools = await context.newCDPSession(page);
  await devtools.send('WebAuthn.enable');
  await devtools.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
}
