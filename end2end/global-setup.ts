import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listeningUrl, waitUntilServing, withDeadline } from './server-process';

const repoRoot = path.resolve(__dirname, '..');
const SHUTDOWN_DEADLINE_MS = 20_000;

/**
 * Copies target/release/logdeck (built by `make build`, the site inside it)
 * alone into an empty directory and starts it there on 127.0.0.1:0 with
 * the shipped demo config plus the test processes of fixtures/extra.toml:
 * every test below sees the page as an installed binary serves it. Waits
 * until it serves the page, and returns the teardown that stops it with
 * SIGTERM and checks that it exits cleanly.
 */
export default async function globalSetup(): Promise<(() => Promise<void>) | void> {
  if (process.env.LOGDECK_URL) {
    return;
  }
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'logdeck-e2e-'));
  const binary = path.join(configDir, 'logdeck');
  fs.copyFileSync(path.join(repoRoot, 'target', 'release', 'logdeck'), binary);
  fs.chmodSync(binary, 0o755);
  const config = path.join(configDir, 'logdeck.toml');
  fs.writeFileSync(
    config,
    fs.readFileSync(path.join(repoRoot, 'demo', 'logdeck.toml'), 'utf8') +
      '\n' +
      fs.readFileSync(path.join(__dirname, 'fixtures', 'extra.toml'), 'utf8'),
  );
  // No Leptos.toml and no LEPTOS_SITE_ROOT: the site comes from the binary.
  const env = { ...process.env };
  delete env.LEPTOS_SITE_ROOT;
  const server = spawn(
    binary,
    ['--addr', '127.0.0.1:0', '--config', config],
    {
      cwd: configDir,
      env,
      stdio: ['ignore', 'inherit', 'pipe'],
    },
  );
  const url = await listeningUrl(server);
  await waitUntilServing(url);
  process.env.LOGDECK_URL = url;

  return async () => {
    if (server.exitCode !== null) {
      throw new Error(`server exited early with code ${server.exitCode}`);
    }
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    const [code, signal] = (await withDeadline(exited, SHUTDOWN_DEADLINE_MS, 'server shutdown')) as [
      number | null,
      string | null,
    ];
    if (code !== 0) {
      throw new Error(`server exited with code ${code} (signal ${signal}) after SIGTERM`);
    }
    fs.rmSync(configDir, { recursive: true, force: true });
  };
}
