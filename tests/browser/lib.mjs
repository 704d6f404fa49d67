// tests/browser/lib.mjs - what the browser tests share: the "ok - ..." /
// "not ok - ..." checks, Debian's /usr/bin/chromium started headless by
// playwright-core in a fresh profile, the watch that no request leaves
// 127.0.0.1, the 320 px check and the JSON download of the data page.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let failed = 0;

// Prints one check's line; a failed one with DETAIL, cut to 300 characters.
export function check(name, cond, detail) {
  if (cond) console.log(`ok - browser: ${name}`);
  else {
    failed++;
    console.log(`not ok - browser: ${name}`);
    if (detail !== undefined) console.log(`#   ${String(detail).slice(0, 300)}`);
  }
}

// The command line's OUTDIR and the other NAMES, all required (exit 2
// with a usage line if not); OUTDIR is made.
export function args(script, names) {
  const argv = process.argv.slice(2);
  if (argv.length < names.length + 1 || argv.slice(0, names.length + 1).some((a) => !a)) {
    console.error(`usage: node ${script} OUTDIR ${names.join(' ')}`);
    process.exit(2);
  }
  mkdirSync(argv[0], { recursive: true });
  return argv;
}

// Starts chromium in a fresh profile (--user-data-dir), runs BODY(context),
// then checks that no request left 127.0.0.1; closes the browser, removes
// the profile and exits 1 if any check failed, 0 if none did.
export async function session(body) {
  const profile = mkdtempSync(join(tmpdir(), 'newsletter-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1024, height: 768 },
      acceptDownloads: true,
    });
  } catch (e) {
    check('chromium starts', false, e.message);
    rmSync(profile, { recursive: true, force: true });
    process.exit(1);
  }

  // Every request the pages make: none may leave 127.0.0.1.
  const foreign = [];
  context.on('request', (req) => {
    const u = new URL(req.url());
    if (u.protocol !== 'data:' && u.hostname !== '127.0.0.1') foreign.push(req.url());
  });
  try {
    await body(context);
    check('no request left 127.0.0.1', foreign.length === 0, foreign.join(' '));
  } catch (e) {
    check('the browser run finished', false, e.stack || e);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

// The page at 320 px wide scrolls nothing sideways; a screenshot SHOT
// there, and the width back to 1024.
export async function checkNarrow(page, lang, shot) {
  await page.setViewportSize({ width: 320, height: 640 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  check(`${lang}: at 320 px nothing scrolls sideways (width ${overflow})`, overflow <= 320);
  await page.screenshot({ path: shot, fullPage: true });
  await page.setViewportSize({ width: 1024, height: 768 });
}

// Clicks the button named BUTTON and reads the file it downloads as JSON:
// { json (null if it is not JSON), download }.
export async function downloadJson(page, button) {
  const [download] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('button', { name: button, exact: true }).click()]);
  let json = null;
  try { json = JSON.parse(readFileSync(await download.path(), 'utf8')); } catch (e) { /* the caller checks */ }
  return { json, download };
}
