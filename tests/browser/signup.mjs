// tests/browser/signup.mjs - the signup form and its confirmation in a real
// browser (Debian's /usr/bin/chromium, headless, playwright-core).
//
// In Bokmål and English: opens BASE/subscribe, checks the labels, that the
// honeypot is neither seen nor reached with Tab, the page at 320 px; fills
// the form and sends it, sees "check your mailbox"; reads the link from the
// mail the test SMTP server captured (Python's email package, as the e2e
// tests read mail), opens it, clicks the button, sees the confirmation;
// clicks "See the data you hold about me", sees the data page with its
// table, and downloads the JSON. No cookie, no request off 127.0.0.1.
// Screenshots of every page in OUTDIR. Prints "ok - ..." / "not ok - ...";
// exits 1 if any check failed.
//
//   node signup.mjs OUTDIR BASE MAILDIR
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { args, check, checkNarrow, downloadJson, session } from './lib.mjs';

const [outdir, base, maildir] = args('signup.mjs', ['BASE', 'MAILDIR']);

// The confirmation link of the last mail to ADDRESS, or '' (parsed by
// Python's email package: the text part may be quoted-printable).
const readLink = `
import email, json, os, re, sys
from email import policy
d, addr = sys.argv[1], sys.argv[2].lower()
last = None
try:
    for line in open(os.path.join(d, "log.jsonl")):
        e = json.loads(line)
        if addr in [a.lower() for a in e["to"]]:
            last = e["n"]
except FileNotFoundError:
    pass
if last is not None:
    m = email.message_from_bytes(open(os.path.join(d, "%d.eml" % last), "rb").read(), policy=policy.default)
    t = m.get_body(("plain",)).get_content()
    r = re.search(r"https://news\\.example\\.org(/c/[A-Za-z0-9_.-]+)", t)
    print(r.group(1) if r else "")
`;
async function mailedLink(address) {
  for (let i = 0; i < 150; i++) {
    const p = execFileSync('/usr/bin/python3', ['-c', readLink, maildir, address]).toString().trim();
    if (p) return p;
    await new Promise((r) => setTimeout(r, 100));
  }
  return '';
}

async function run(context, lang, address, t) {
  const page = await context.newPage();
  await page.setExtraHTTPHeaders({ 'Accept-Language': lang === 'nb' ? 'nb-NO,nb;q=0.9' : 'en' });
  const res = await page.goto(`${base}/subscribe`);
  check(`${lang}: /subscribe opens with 200`, res && res.status() === 200, res && res.status());
  check(`${lang}: <html lang="${lang}">`, await page.evaluate(() => document.documentElement.lang) === lang);
  check(`${lang}: the heading reads '${t.title}'`, (await page.textContent('h1')) === t.title);
  const email = page.getByLabel(t.email, { exact: true });
  const name = page.getByLabel(t.name, { exact: true });
  check(`${lang}: fields labelled '${t.email}' and '${t.name}'`, await email.count() === 1 && await name.count() === 1);
  check(`${lang}: the honeypot is not visible`, !(await page.locator('input[name="website"]').isVisible()));
  check(`${lang}: the honeypot is not in the accessibility tree`,
    await page.getByRole('textbox').count() === 2, await page.getByRole('textbox').count());
  const order = [];
  for (let i = 0; i < 3; i++) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement.name || document.activeElement.tagName));
  }
  check(`${lang}: Tab goes email, name, button (not the honeypot)`,
    order.join(',') === 'email,name,BUTTON', order.join(','));
  await page.screenshot({ path: join(outdir, `signup-form-${lang}.png`), fullPage: true });
  await checkNarrow(page, lang, join(outdir, `signup-form-${lang}-320px.png`));

  await email.fill(address);
  await name.fill(t.person);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: t.subscribe, exact: true }).click()]);
  check(`${lang}: after sending, '${t.check}'`, (await page.textContent('h1')) === t.check);
  await page.screenshot({ path: join(outdir, `signup-check-mail-${lang}.png`), fullPage: true });

  const path = await mailedLink(address);
  check(`${lang}: the confirmation mail with its link arrives`, path !== '');
  if (!path) return;
  const conf = await page.goto(`${base}${path}`);
  check(`${lang}: the link opens with 200, '${t.confirm}'`,
    conf.status() === 200 && (await page.textContent('h1')) === t.confirm);
  await page.screenshot({ path: join(outdir, `signup-confirm-${lang}.png`), fullPage: true });
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: t.yes, exact: true }).click()]);
  check(`${lang}: after the click, '${t.done}'`, (await page.textContent('h1')) === t.done);
  check(`${lang}: the page links to their own unsubscribe page`,
    await page.getByRole('link', { name: t.unsubscribe, exact: true }).count() === 1);
  await page.screenshot({ path: join(outdir, `signup-done-${lang}.png`), fullPage: true });

  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: t.data, exact: true }).click()]);
  check(`${lang}: the data button shows '${t.dataTitle}'`, (await page.textContent('h1')) === t.dataTitle);
  const cells = await page.locator('td').allTextContents();
  check(`${lang}: the data page's table holds the address and the name`,
    cells.includes(address) && cells.includes(t.person), cells.join(' | '));
  await page.screenshot({ path: join(outdir, `signup-data-${lang}.png`), fullPage: true });
  const { json } = await downloadJson(page, t.json);
  check(`${lang}: the JSON download is the export, with the consent evidence`,
    json && json.subscriber && json.subscriber.email.value === address && json.consent &&
    json.consent.channel === 'web-form');
  check(`${lang}: no cookie`, (await context.cookies()).length === 0 &&
    await page.evaluate(() => document.cookie) === '');
  await page.close();
}

await session(async (context) => {
  await run(context, 'nb', 'kari.signup.browser@example.no', {
    title: 'Meld deg på nyhetsbrevet', email: 'E-postadresse', name: 'Navn (valgfritt)',
    subscribe: 'Meld meg på', check: 'Sjekk innboksen din', confirm: 'Bekreft påmeldingen',
    yes: 'Ja, meld meg på', done: 'Du er meldt på', unsubscribe: 'Meld meg av',
    data: 'Se opplysningene dere har om meg', dataTitle: 'Opplysningene vi har om deg',
    json: 'Last ned opplysningene mine (JSON)', person: 'Kari Nordmann',
  });
  await run(context, 'en', 'ola.signup.browser@example.no', {
    title: 'Subscribe to the newsletter', email: 'E-mail address', name: 'Name (optional)',
    subscribe: 'Subscribe', check: 'Check your mailbox', confirm: 'Confirm your subscription',
    yes: 'Yes, subscribe me', done: 'You are subscribed', unsubscribe: 'Unsubscribe',
    data: 'See the data you hold about me', dataTitle: 'The data we hold about you',
    json: 'Download my data (JSON)', person: 'Ola Normann',
  });
});
