import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSource, startDest, tempDir, waitForLine } from './support/agents.js';
import { ARTIFACT_DIR, browserForTests } from './support/browser.js';

// The live dashboard of an agent whose control API needs a token (--control-token-file), in headless Chromium:
// the browser logs in once with the token, and from then on the page and its EventSource ride a session cookie
// (HttpOnly, SameSite=Strict, a random value); the token appears in no URL and no cookie. Logging out ends it.
const GUEST = ['--memory', '32MiB', '--vcpus', '1', '--workload', 'uniform', '--seed', '5', '--dirty-rate', '64MiB'];
const TOKEN = 'dashboard-test-token-7f3a9c21e8b54d06';

describe('live dashboard behind the control token', () => {
  const dir = tempDir();
  const opened = browserForTests(() => dir.remove());
  const agents = opened.agents;

  it('logs in with the token, follows a migration over a session cookie, and logs out', async () => {
    const tokenFile = dir.file('control.token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const dest = await startDest([]);
    agents.push(dest);
    const source = runSource([...GUEST, '--control-port', '0', '--control-token-file', tokenFile]);
    agents.push(source);
    const url = (await waitForLine(source, /^control (http:\/\/\S+)$/))[1]!;
    const port = new URL(url).port;
    const browser = opened.browser;
    const { page } = browser;

    // Without a session the dashboard sends the browser to the login form; a wrong token is refused there.
    await page.goto(`${url}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('input[name="token"]', 'not-the-token-0123456789');
    const refused = await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]).then(([response]) => response!);
    expect(refused.status()).toBe(401);
    expect(await page.textContent('#login-error')).toBe('Wrong token.');
    expect(await browser.context.cookies()).toEqual([]);
    // Chromium reports the refused login's 401 in the console; nothing after it may fail.
    const errorsBefore = browser.errors.length;

    // The right token: back to the dashboard, which reads the migrations and follows /events with the cookie.
    await page.fill('input[name="token"]', TOKEN);
    await Promise.all([page.waitForURL(`${url}/`), page.click('button[type="submit"]')]);
    await page.waitForFunction(() => (window as any).livemigPage?.ready === true);
    await page.waitForFunction(() => document.getElementById('connection')!.textContent === 'following /events');
    const cookies = await browser.context.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([[`livemig_session_${port}`, true, 'Strict']]);
    expect(cookies[0]!.value).not.toContain(TOKEN);
    expect(await page.evaluate(() => document.cookie)).toBe('');

    // A migration started with the token (as a script would); the page takes in its events.
    const started = await fetch(`${url}/migrations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ target: dest.address, maxBandwidthBytesPerSec: 1_000_000, maxRounds: 1000 }),
    });
    expect(started.status).toBe(201);
    const { id } = (await started.json()) as { id: string };
    await page.waitForFunction((migration) => (window as any).livemigPage.events > 10 && (window as any).livemigPage.id === migration, id, { timeout: 120_000 });
    await page.screenshot({ path: join(ARTIFACT_DIR, 'dashboard-login.png'), fullPage: true });
    expect(browser.requests.filter((request) => request.includes(TOKEN))).toEqual([]);
    expect(browser.errors.slice(errorsBefore)).toEqual([]);
    // The cookie opens the dashboard's reads only: the page itself cannot cancel (or start) anything.
    const fromPage = await page.evaluate(async (migration) => (await fetch(`/migrations/${migration}`, { method: 'DELETE' })).status, id);
    expect(fromPage).toBe(403);

    // Logging out ends the session: the dashboard sends the browser to the login form again.
    await Promise.all([page.waitForURL(`${url}/login`), page.click('#logout button')]);
    expect(await browser.context.cookies()).toEqual([]);
    await page.goto(`${url}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    const cancelled = await fetch(`${url}/migrations/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(cancelled.ok).toBe(true);
  });
});
