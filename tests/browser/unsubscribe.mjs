// tests/browser/unsubscribe.mjs - the unsubscribe pages in a real browser.
//
// Debian's /usr/bin/chromium, headless, driven by playwright-core (which
// downloads no browser). Opens real links of a running 'newsletter serve'
// with Accept-Language nb-NO and en, checks the text and <html lang>, the
// page at 320 px, the keyboard focus ring and the accessible names, looks at
// the data button's page and its JSON download, clicks "Unsubscribe", sees the confirmation, and
// checks that no cookie was set and that no request left 127.0.0.1. Saves a
// screenshot of every page in OUTDIR. Prints "ok - ..." / "not ok - ..."
// lines; exits 1 if any check failed.
//
//   node unsubscribe.mjs OUTDIR NB_URL EN_URL
import { join } from 'node:path';
import { args, check, checkNarrow, downloadJson, session } from './lib.mjs';

const [outdir, nbUrl, enUrl] = args('unsubscribe.mjs', ['NB_URL', 'EN_URL']);

async function run(context, lang, url, t) {
  const page = await context.newPage();
  await page.setExtraHTTPHeaders({ 'Accept-Language': lang === 'nb' ? 'nb-NO,nb;q=0.9' : 'en' });
  const res = await page.goto(url);
  check(`${lang}: the link opens with 200`, res && res.status() === 200, res && res.status());
  check(`${lang}: <html lang="${lang}">`, await page.evaluate(() => document.documentElement.lang) === lang);
  const h1 = await page.textContent('h1');
  check(`${lang}: the heading reads '${t.title}'`, h1 === t.title, h1);
  const text = await page.textContent('main');
  check(`${lang}: the masked address is shown`, text.includes('k***@example.no'), text);
  check(`${lang}: the full address is not`, !text.includes('kari.browser'), text);
  await page.screenshot({ path: join(outdir, `confirm-${lang}.png`), fullPage: true });

  // Accessible names, keyboard focus, and a 320 px wide screen.
  const button = page.getByRole('button', { name: t.button, exact: true });
  check(`${lang}: a button named '${t.button}'`, await button.count() === 1);
  check(`${lang}: a button named '${t.data}'`,
    await page.getByRole('button', { name: t.data, exact: true }).count() === 1);
  await page.keyboard.press('Tab');
  const focus = await page.evaluate(() => {
    const e = document.activeElement;
    const s = getComputedStyle(e);
    return { tag: e.tagName, outline: s.outlineStyle, width: s.outlineWidth };
  });
  check(`${lang}: Tab reaches the unsubscribe button, with a visible focus ring`,
    focus.tag === 'BUTTON' && focus.outline !== 'none' && focus.width !== '0px', JSON.stringify(focus));
  await checkNarrow(page, lang, join(outdir, `confirm-${lang}-320px.png`));

  // The data button: the data page (HTML), by POST; its own button gives the JSON.
  if (t.viewData) {
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: t.data }).click()]);
    const h = await page.textContent('h1');
    check(`${lang}: the data button shows the data page`, h === t.dataTitle, h);
    const cells = await page.locator('td').allTextContents();
    check(`${lang}: the data page's table holds the address`,
      cells.some((c) => c.startsWith('kari.browser')), cells.join(' | '));
    await page.screenshot({ path: join(outdir, `data-${lang}.png`), fullPage: true });
    const { json, download: dl } = await downloadJson(page, t.json);
    check(`${lang}: the JSON button downloads the export (${dl.suggestedFilename()})`,
      json && json.subscriber && json.subscriber.email.value.startsWith('kari.browser') &&
      !dl.suggestedFilename().includes('@'));
    await page.goBack();
  }

  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: t.button, exact: true }).click()]);
  const done = await page.textContent('h1');
  check(`${lang}: after the click the page says '${t.done}'`, done === t.done, done);
  check(`${lang}: the confirmation is in ${lang} too`,
    await page.evaluate(() => document.documentElement.lang) === lang);
  check(`${lang}: no redirect (the address is still the link's)`, page.url() === url, page.url());
  await page.screenshot({ path: join(outdir, `done-${lang}.png`), fullPage: true });
  check(`${lang}: document.cookie is empty`, await page.evaluate(() => document.cookie) === '');
  check(`${lang}: the browser holds no cookie`, (await context.cookies()).length === 0);

  // The same link again: unsubscribed already, still 200.
  const again = await page.goto(url);
  check(`${lang}: opening the link again: 200, '${t.done}'`,
    again.status() === 200 && (await page.textContent('h1')) === t.done);
  await page.close();
}

await session(async (context) => {
  await run(context, 'nb', nbUrl, {
    title: 'Meld deg av', button: 'Meld meg av', data: 'Se opplysningene dere har om meg',
    done: 'Du er meldt av', viewData: false,
  });
  await run(context, 'en', enUrl, {
    title: 'Unsubscribe', button: 'Unsubscribe', data: 'See the data you hold about me',
    done: 'You are unsubscribed', viewData: true,
    dataTitle: 'The data we hold about you', json: 'Download my data (JSON)',
  });
});
