import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, test } from '@playwright/test';
import { listeningUrl, waitUntilServing, withDeadline } from '../server-process';

// Two Logdeck nodes joined through a real nats-server (installed by the
// bootstrap into .tools/nats): the page of one shows both.
const repoRoot = path.resolve(__dirname, '..', '..');
const TOKEN = 'playwright-cluster-token';

let dir: string;
let children: ChildProcess[] = [];
let urlOfA = '';

async function natsServer(): Promise<string> {
  const ports = path.join(dir, 'ports');
  fs.mkdirSync(ports);
  const nats = spawn(
    path.join(repoRoot, '.tools', 'nats', 'bin', 'nats-server'),
    ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', path.join(dir, 'store'), '--auth', TOKEN, '--ports_file_dir', ports],
    { stdio: 'ignore' },
  );
  children.push(nats);
  const file = path.join(ports, `nats-server_${nats.pid}.ports`);
  return withDeadline(
    (async () => {
      for (;;) {
        if (fs.existsSync(file)) {
          const text = fs.readFileSync(file, 'utf8');
          if (text.includes('nats://')) return JSON.parse(text).nats[0] as string;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })(),
    30_000,
    'nats-server start-up',
  );
}

async function node(name: string, nats: string, processes: string): Promise<string> {
  const config = path.join(dir, `${name}.toml`);
  fs.writeFileSync(
    config,
    `node = "${name}"\n[cluster]\nurl = "${nats}"\ntoken = "${TOKEN}"\noffline_after = "3s"\n${processes}`,
  );
  const server = spawn(path.join(repoRoot, 'target', 'release', 'logdeck'), ['--addr', '127.0.0.1:0', '--config', config], {
    cwd: repoRoot,
    // Not this run's LOGDECK_URL (of the shared server): Logdeck reads
    // LOGDECK_* as settings.
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('LOGDECK_'))),
      LEPTOS_SITE_ROOT: path.join(repoRoot, 'target', 'site'),
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  children.push(server);
  const url = await listeningUrl(server);
  await waitUntilServing(url);
  return url;
}

const printer = (name: string, word: string) =>
  `[[process]]\nname = "${name}"\ncommand = "i=1; while :; do echo ${word} $i; i=$((i+1)); sleep 0.5; done"\n`;

test.beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logdeck-cluster-'));
  const nats = await natsServer();
  urlOfA = await node('node-a', nats, printer('alpha', 'from-a'));
  await node('node-b', nats, printer('beta', 'from-b'));
});

test.afterAll(async () => {
  for (const child of children.reverse()) {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await withDeadline(exited, 20_000, 'a cluster test process to stop');
    }
  }
  children = [];
  fs.rmSync(dir, { recursive: true, force: true });
});

test('one node shows and controls every node: processes grouped by node, a node filter, the node on each row', async ({ page }) => {
  await page.goto(urlOfA);
  const groupA = page.getByTestId('node-group-node-a');
  const groupB = page.getByTestId('node-group-node-b');
  await expect(groupA).toBeVisible({ timeout: 20_000 });
  await expect(groupB).toBeVisible({ timeout: 20_000 });
  await expect(groupA.getByTestId('process-card-node-a-alpha')).toBeVisible();
  await expect(groupB.getByTestId('process-card-node-b-beta').getByTestId('process-state')).toHaveText('running');

  // Rows from both nodes, each with its node.
  const rows = page.getByTestId('log-row');
  await expect(rows.filter({ hasText: 'from-b' }).first()).toBeVisible({ timeout: 20_000 });
  await expect(rows.filter({ hasText: 'from-a' }).first()).toBeVisible();
  await expect(rows.filter({ hasText: 'from-b' }).first().getByTestId('row-node')).toHaveText('node-b');

  // The node filter, in the URL.
  await page.getByTestId('node-filter').selectOption('node-b');
  await expect(page).toHaveURL(/node=node-b/);
  await expect(rows.filter({ hasText: 'from-a' })).toHaveCount(0);
  await expect(rows.filter({ hasText: 'from-b' }).first()).toBeVisible();

  // A stop on node A's page stops node B's process; the card follows.
  const beta = groupB.getByTestId('process-card-node-b-beta');
  page.once('dialog', (dialog) => dialog.accept());
  await beta.getByTestId('process-stop-beta').click();
  await expect(beta.getByTestId('process-state')).toHaveText('stopped', { timeout: 20_000 });
  await expect(groupA.getByTestId('process-card-node-a-alpha').getByTestId('process-state')).toHaveText('running');
  await beta.getByTestId('process-start-beta').click();
  await expect(beta.getByTestId('process-state')).toHaveText('running', { timeout: 20_000 });

  // A remote process's own page: its node's lines only, its controls.
  await page.goto(`${urlOfA}/processes/beta?node=node-b`);
  await expect(page.getByTestId('process-header').getByTestId('process-state')).toHaveText('running', { timeout: 20_000 });
  await expect(rows.filter({ hasText: 'from-b' }).first()).toBeVisible({ timeout: 20_000 });
  await expect(rows.filter({ hasText: 'from-a' })).toHaveCount(0);
  await page.goto(urlOfA);

  // A folded group hides its processes.
  await groupB.locator('summary').click();
  await expect(groupB.getByTestId('process-card-node-b-beta')).toBeHidden();
});
