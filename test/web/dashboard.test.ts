import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { TestFarm } from '../helpers/farm.js';
import { BYSTANDER, ensureUser, requireRoot, runAsUser } from '../helpers/unix-users.js';
import { launchChromium, screenshot, watchPage } from './browser.js';

/**
 * Issue 10: the dashboard in a real browser (Debian's chromium through playwright-core) against
 * a real root-run master and agent. The viewer is an ordinary user, signed in with the link
 * `qfarm web` printed for them.
 */

const XSS_NAME = '<img src=x onerror=alert(1)>';

async function signInLink(farm: TestFarm, user: ReturnType<typeof ensureUser>): Promise<string> {
  const res = await farm.runAs(user, 'qfarm', ['web']);
  if (res.code !== 0) throw new Error(`qfarm web as ${user.name} failed: ${res.stderr}`);
  const url = /(http\S+\/web\/sign-in\?token=\S+)/.exec(res.stdout)?.[1];
  if (!url) throw new Error(`qfarm web printed no link: ${res.stdout}`);
  return url;
}

async function submitAs(farm: TestFarm, user: ReturnType<typeof ensureUser>, args: string[]): Promise<number> {
  const res = await farm.runAs(user, 'qsub', ['-terse', '-q', 'default', '-o', '/dev/null', '-e', '/dev/null', ...args], { cwd: user.home });
  if (res.code !== 0) throw new Error(`qsub ${args.join(' ')} as ${user.name}: ${res.stderr}`);
  return Number.parseInt(res.stdout, 10);
}

/**
 * qsub refuses blanks in -N (SGE's rule), so a hostile user posts the job to the API socket
 * with their own process: the master stores whatever name the schema allows.
 */
async function submitRawAs(farm: TestFarm, user: ReturnType<typeof ensureUser>, name: string, argv: string[]): Promise<number> {
  const body = { name, submitHost: 'localhost', command: { kind: 'binary', argv }, cwd: user.home, submitCwd: user.home, stdoutPath: '/dev/null', stderrPath: '/dev/null', joinOutput: false, env: {}, hold: false, holdJobs: [], priority: 0, queue: 'default', slots: 1, resources: { other: {} }, pty: false };
  const script = `
    const http = require('node:http');
    const req = http.request({ socketPath: process.argv[1], method: 'POST', path: '/api/v1/jobs', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = ''; res.setEncoding('utf8'); res.on('data', (c) => (text += c)); res.on('end', () => process.stdout.write(text));
    });
    req.end(process.argv[2]);`;
  const run = await runAsUser(user, [process.execPath, '-e', script, path.join(farm.home, 'api.sock'), JSON.stringify(body)]);
  const answer = JSON.parse(run.stdout) as { jobId?: number; error?: string };
  if (!answer.jobId) throw new Error(`raw submission as ${user.name} failed: ${run.stdout} ${run.stderr}`);
  return answer.jobId;
}

const row = (page: Page, jobId: number) => page.locator(`tr[data-job="${jobId}"]`);

t.test('the web dashboard, in a real browser', async (t) => {
  requireRoot();
  const bob = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 3 });
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1360, height: 820 } });
  const page = await context.newPage();
  const watch = watchPage(page);

  await t.test('qfarm web signs the user in once, with an HttpOnly SameSite=Strict cookie', async (t) => {
    const link = await signInLink(farm, bob);
    await page.goto(link);
    await page.locator('header .who').getByText(BYSTANDER).waitFor();
    t.equal(new URL(page.url()).pathname, '/', 'the link redirects to the dashboard');
    const [cookie] = await context.cookies();
    t.equal(cookie?.name, 'qfarm_session');
    t.equal(cookie?.httpOnly, true, 'scripts cannot read the session');
    t.equal(cookie?.sameSite, 'Strict', 'other sites cannot send it');
    const again = await (await browser.newContext()).newPage();
    const second = await again.goto(link);
    t.equal(second?.status(), 403, 'the link works only once');
    t.match(await again.textContent('body'), /Run `qfarm web` again/);
    const csp = (await page.request.get(farm.url + '/')).headers()['content-security-policy'];
    t.match(csp, /script-src 'self'/);
    t.notMatch(csp, /unsafe-inline/, 'no inline script is allowed');
  });

  await t.test('a running job shows its progress and a log line live, without reloading', async (t) => {
    await page.goto(farm.url + '/#/jobs');
    const script = 'echo start $SGE_TASK_ID; sleep 3; echo live-line-$SGE_TASK_ID; sleep 3';
    const jobId = await submitAs(farm, bob, ['-N', 'watchme', '-t', '1-3', '-b', 'y', 'sh', '-c', script]);
    await row(page, jobId).waitFor({ timeout: 10_000 });
    t.equal((await row(page, jobId).locator('td.name').textContent())?.trim(), 'watchme');
    await row(page, jobId).locator('.state.running').waitFor({ timeout: 15_000 });
    await screenshot(page, 'jobs');
    await page.goto(`${farm.url}/#/job/${jobId}`);
    await page.locator('tr[data-task="1"] .state.running').waitFor({ timeout: 15_000 });
    await page.locator('tr[data-task="1"]').click();
    await page.locator('pre.log-text').getByText('live-line-1').waitFor({ timeout: 15_000 });
    t.pass('the log line arrived while the task ran');
    await screenshot(page, 'job');
    await page.goto(farm.url + '/#/jobs');
    await page.locator('select[aria-label="filter by state"]').selectOption('all');
    await row(page, jobId).locator('.count').getByText('3/3').waitFor({ timeout: 30_000 });
    await row(page, jobId).locator('.state.finished').waitFor({ timeout: 10_000 });
    t.pass('progress reached 3/3 and the job finished, pushed by the live stream');
  });

  await t.test('an answer that arrives after a newer one does not take the page back in time', async (t) => {
    const jobId = await submitAs(farm, bob, ['-N', 'overtaken', '-b', 'y', 'sleep', '1']);
    // The job page's first look at the tasks is answered by the master now (task pending or
    // running) but reaches the browser only after the page has shown the task done.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let delivered!: Promise<void>;
    let first = true;
    await page.route(`**/api/v1/web/jobs/${jobId}/tasks?*`, async (route) => {
      if (!first) return route.continue();
      first = false;
      const response = await route.fetch();
      t.notMatch(await response.text(), /"state":"done"/, 'the held answer is from before the task was done');
      delivered = held.then(() => route.fulfill({ response }));
    });
    await page.goto(`${farm.url}/#/job/${jobId}`);
    await page.locator('tr[data-task] .state.done').waitFor({ timeout: 30_000 });
    release();
    await delivered;
    await page.waitForTimeout(500); // the page had its time to draw the old answer
    t.equal(await page.locator('tr[data-task] .state').textContent(), 'done', 'the page still shows the task done');
    await page.unroute(`**/api/v1/web/jobs/${jobId}/tasks?*`);
  });

  await t.test('a link to a job opened while the page is still starting shows that job', async (t) => {
    const jobId = await submitAs(farm, bob, ['-N', 'deep-link', '-b', 'y', 'true']);
    // The hash changes right after the dashboard's first render, before its effects run (a busy
    // browser delays them; here animation frames never come, so preact waits its 35 ms timeout).
    const early = await context.newPage();
    await early.addInitScript((hash: string) => {
      window.requestAnimationFrame = () => 0;
      const seen = new MutationObserver(() => {
        if (!document.getElementById('app')?.firstChild) return;
        seen.disconnect();
        location.hash = hash;
      });
      seen.observe(document, { childList: true, subtree: true });
    }, `#/job/${jobId}`);
    await early.goto(`${farm.url}/#/jobs`);
    await early.locator('h2').getByText(`job ${jobId}`).waitFor({ timeout: 10_000 });
    t.equal(new URL(early.url()).hash, `#/job/${jobId}`);
    t.equal(await early.locator('a.tab.active').textContent(), 'Jobs');
    t.equal(await early.locator('table.jobs').count(), 0, 'the job list is not what it shows');
    await early.close();
  });

  await t.test('the delete button deletes the job, as qdel would', async (t) => {
    await page.goto(farm.url + '/#/jobs');
    // A deleted job leaves the active list as soon as its task is killed.
    await page.locator('select[aria-label="filter by state"]').selectOption('all');
    const jobId = await submitAs(farm, bob, ['-N', 'deleteme', '-b', 'y', 'sleep', '300']);
    await row(page, jobId).locator('.state.running').waitFor({ timeout: 15_000 });
    await row(page, jobId).getByRole('button', { name: 'delete' }).click();
    await row(page, jobId).getByRole('button', { name: 'really delete?' }).click();
    await page.locator('.note.ok').getByText(`${BYSTANDER} has registered the job ${jobId} for deletion`).waitFor({ timeout: 10_000 });
    await row(page, jobId).locator('.state.deleted').waitFor({ timeout: 20_000 });
    await farm.waitForJob(jobId);
    t.pass('the row turned to deleted live, and the master finished the job');
  });

  await t.test('rerun failed tasks puts only the failed ones back in the queue', async (t) => {
    const flag = path.join(bob.home, 'rerun-ok');
    fs.rmSync(flag, { force: true });
    const jobId = await submitAs(farm, bob, ['-N', 'flaky', '-t', '1-2', '-b', 'y', 'sh', '-c', `[ "$SGE_TASK_ID" = 1 ] || [ -e ${flag} ]`]);
    await farm.waitForJob(jobId);
    await page.goto(`${farm.url}/#/job/${jobId}`);
    await page.locator('tr[data-task="2"] .state.failed').waitFor({ timeout: 10_000 });
    fs.writeFileSync(flag, '');
    await page.getByRole('button', { name: 'rerun failed tasks' }).click();
    await page.locator('.note.ok').getByText(`${BYSTANDER} reran 1 failed task of job ${jobId}`).waitFor();
    await page.locator('tr[data-task="2"] .state.done').waitFor({ timeout: 20_000 });
    t.equal(await page.locator('tr[data-task="1"] td').nth(3).textContent(), '1', 'task 1 ran once');
    t.equal(await page.locator('tr[data-task="2"] td').nth(3).textContent(), '2', 'task 2 ran again');
    await farm.waitForJob(jobId);
  });

  await t.test("another user's job has no action buttons, and the API refuses the action", async (t) => {
    const rootJob = await farm.submit(['-terse', '-h', '-q', 'default', '-b', 'y', '/bin/true']);
    await page.goto(farm.url + '/#/jobs');
    await row(page, rootJob).waitFor();
    t.equal(await row(page, rootJob).locator('button').count(), 0, 'no buttons on root\'s job for bob');
    const answers = await page.evaluate(async (id) => {
      const session = await (await fetch('/api/v1/web/session')).json();
      const body = JSON.stringify({ targets: [{ job: String(id) }], users: [], force: false });
      const withCsrf = await fetch('/api/v1/jobs/delete', { method: 'POST', headers: { 'content-type': 'application/json', 'x-qfarm-csrf': session.csrf }, body });
      const noCsrf = await fetch('/api/v1/jobs/delete', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      return { withCsrf: await withCsrf.json(), noCsrfStatus: noCsrf.status };
    }, rootJob);
    t.same(answers.withCsrf.messages, [{ ok: false, text: `${BYSTANDER} - you do not have the necessary privileges to delete the job "${rootJob}"`, denied: 'permission' }], "the CLI's own ownership rule and words");
    t.equal(answers.noCsrfStatus, 403, 'an action without the CSRF token is refused');
    t.equal((await farm.run('qstat', [])).stdout.includes(` ${rootJob} `), true, "root's job is still there");
  });

  await t.test('a job named like markup shows as text and runs nothing', async (t) => {
    const jobId = await submitRawAs(farm, bob, XSS_NAME, ['sh', '-c', `echo '${XSS_NAME}'; sleep 30`]);
    await page.goto(farm.url + '/#/jobs');
    await row(page, jobId).waitFor();
    t.equal(await row(page, jobId).locator('td.name').textContent(), XSS_NAME, 'the name is the text');
    t.equal(await page.locator('main img').count(), 0, 'no image element was made from it');
    await page.goto(`${farm.url}/#/job/${jobId}`);
    await page.locator('.job-name').getByText(XSS_NAME).waitFor();
    await page.locator('tr[data-task="1"] .state.running').waitFor({ timeout: 15_000 });
    await page.locator('tr[data-task="1"]').click();
    await page.locator('pre.log-text').getByText(XSS_NAME).waitFor({ timeout: 10_000 });
    t.equal(await page.locator('main img').count(), 0, 'the log line made no element either');
    await screenshot(page, 'xss-as-text');
    await page.waitForTimeout(500);
    t.same(watch.dialogs, [], 'no alert, confirm or prompt ran');
    t.same(watch.errors, [], 'no script error on the page');
  });

  await t.test('the hosts page shows each host with its load chart', async (t) => {
    await page.goto(farm.url + '/#/hosts');
    const card = page.locator('.host-card[data-host="node1"]');
    await card.waitFor();
    await card.locator('.chart canvas').waitFor({ timeout: 15_000 });
    t.match(await card.textContent(), /slots\s*\d+\/3/);
    t.equal(await card.getByRole('button').count(), 0, 'no disable button for a non-admin');
    await screenshot(page, 'hosts');
    await page.goto(farm.url + '/#/groups');
    await page.locator('.group-card').first().waitFor();
    await screenshot(page, 'groups');
    await page.goto(farm.url + '/#/accounting');
    await page.locator('.accounting canvas').first().waitFor({ timeout: 10_000 });
    await screenshot(page, 'accounting');
  });

  await t.test('an admin (root, signed in with its own link) disables and enables a host', async (t) => {
    const admin = await (await browser.newContext({ viewport: { width: 1360, height: 820 } })).newPage();
    const link = /(http\S+\/web\/sign-in\?token=\S+)/.exec((await farm.run('qfarm', ['web'])).stdout)?.[1];
    await admin.goto(link!);
    await admin.locator('header .who').getByText('root (admin)').waitFor();
    await admin.goto(farm.url + '/#/hosts');
    const card = admin.locator('.host-card[data-host="node1"]');
    await card.getByRole('button', { name: 'disable' }).click();
    await card.locator('.state.disabled').waitFor();
    t.equal(await farm.hostState('node1'), 'disabled', 'the master disabled it (as qmod -d)');
    await card.getByRole('button', { name: 'enable' }).click();
    await card.locator('.state.online').waitFor();
    t.equal(await farm.hostState('node1'), 'online');
    await admin.locator('.sign-out').click();
    await admin.getByText('You are not signed in').waitFor();
    const after = await admin.request.get(farm.url + '/api/v1/web/session');
    t.equal(after.status(), 401, 'signed out: the cookie no longer works');
  });

  await t.test("a host in SGE's error state E shows why; only an admin can clear it, as qmod -c", async (t) => {
    // A node whose scratch directory is missing fails every task's setup: 3 in a row put it in E.
    await farm.startAgent('node2', { env: { QFARM_TMP_ROOT: '/nonexistent/scratch' } });
    const doomed = await farm.submit(['-terse', '-q', 'default@node2', '-t', '1-3', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', '/bin/true']);
    type Hosts = { hosts: { hostname: string; error?: string }[] };
    const errorOf = async (): Promise<string | undefined> => ((await farm.api('GET', '/hosts')) as Hosts).hosts.find((h) => h.hostname === 'node2')?.error;
    await farm.waitFor(async () => (await errorOf()) !== undefined, 30_000, 'node2 to enter the error state E');
    await farm.run('qdel', [String(doomed)]);
    const reason = (await errorOf())!;
    t.match(reason, /consecutive setup failures on host node2/);

    await page.goto(farm.url + '/#/hosts');
    const card = page.locator('.host-card[data-host="node2"]');
    await card.locator('.state.error').waitFor();
    t.equal(await card.locator('.host-error').textContent(), reason, "bob sees the master's reason");
    t.equal(await card.getByRole('button').count(), 0, 'and no clear button');
    const forged = await page.evaluate(async () => {
      const session = await (await fetch('/api/v1/web/session')).json();
      const res = await fetch('/api/v1/hosts/node2/clear-error', { method: 'POST', headers: { 'x-qfarm-csrf': session.csrf } });
      return { status: res.status, body: await res.json() };
    });
    t.equal(forged.status, 403, 'a forged clear request is refused');
    t.match(forged.body.error, `${BYSTANDER} may not clear the error state of host node2: only root and managers may`);
    t.equal(await errorOf(), reason, 'node2 is still in error');

    const admin = await (await browser.newContext({ viewport: { width: 1360, height: 820 } })).newPage();
    const link = /(http\S+\/web\/sign-in\?token=\S+)/.exec((await farm.run('qfarm', ['web'])).stdout)?.[1];
    await admin.goto(link!);
    await admin.locator('header .who').getByText('root (admin)').waitFor();
    await admin.goto(farm.url + '/#/hosts');
    const adminCard = admin.locator('.host-card[data-host="node2"]');
    await adminCard.locator('.state.error').waitFor();
    await screenshot(admin, 'hosts-error');
    await adminCard.getByRole('button', { name: 'clear error' }).click();
    await admin.locator('.note.ok').getByText('cleared the error state of host node2').waitFor();
    await adminCard.locator('.state.error').waitFor({ state: 'detached' });
    t.equal(await errorOf(), undefined, 'the master cleared it (as qmod -c)');
    await card.locator('.state.error').waitFor({ state: 'detached', timeout: 5_000 });
    t.pass("bob's page saw it cleared, live");
    t.same(watch.errors, []);
  });
});
