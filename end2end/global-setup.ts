import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

const repoRoot = path.resolve(__dirname, '..');
const STARTUP_DEADLINE_MS = 30_000;
const SHUTDOWN_DEADLINE_MS = 20_000;

/**
 * Starts target/release/server (built by `make build`) on 127.0.0.1:0 with
 * the shipped demo config plus the test processes of fixtures/extra.toml,
 * waits until it serves the page, and returns the teardown that stops it
 * with SIGTERM and checks that it exits cleanly.
 */
export default async function globalSetup(): Promise<(() => Promise<void>) | void> {
  if (process.env.LOGDECK_URL) {
    return;
  }
  const binary = path.join(repoRoot, 'target', 'release', 'server');
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'logdeck-e2e-'));
  const config = path.join(configDir, 'logdeck.toml');
  fs.writeFileSync(
    config,
    fs.readFileSync(path.join(repoRoot, 'demo', 'logdeck.toml'), 'utf8') +
      '\n' +
      fs.readFileSync(path.join(__dirname, 'fixtures', 'extra.toml'), 'utf8'),
  );
  const server = spawn(
    binary,
    ['--addr', '127.0.0.1:0', '--config', config],
    {
      cwd: repoRoot,
      env: { ...process.env, LEPTOS_SITE_ROOT: path.join(repoRoot, 'target', 'site') },
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

/** Reads the server's log until it prints "Logdeck listening on <url>". */
async function listeningUrl(server: ChildProcess): Promise<string> {
  const lines = readline.createInterface({ input: server.stderr! });
  const found = new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      process.stderr.write(`[server] ${line}\n`);
      const match = /Logdeck listening on (http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
    });
    server.on('exit', (code) => reject(new Error(`server exited with code ${code} before listening`)));
    server.on('error', reject);
  });
  return withDeadline(found, STARTUP_DEADLINE_MS, 'server start-up');
}

async function waitUntilServing(url: string): Promise<void> {
  const deadline = Date.now() + STARTUP_DEADLINE_MS;
  for (;;) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not accepting yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${STARTUP_DEADLINE_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
