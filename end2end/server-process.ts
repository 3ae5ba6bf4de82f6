// Starting a Logdeck server for the browser tests and the browser
// benchmark: waiting for its "listening" line and for the page to answer,
// each with a deadline.
import { type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';

export const STARTUP_DEADLINE_MS = 30_000;

/** Reads the server's log until it prints "Logdeck listening on <url>". */
export async function listeningUrl(server: ChildProcess): Promise<string> {
  const lines = readline.createInterface({ input: server.stderr! });
  const found = new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      process.stderr.write(`[server] ${line}\n`);
      const match = /Logdeck listening on (http:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
    });
    server.on('exit', (code) => reject(new Error(`the server exited with code ${code} before listening`)));
    server.on('error', reject);
  });
  return withDeadline(found, STARTUP_DEADLINE_MS, 'server start-up');
}

/** Polls `url` until it answers 2xx. */
export async function waitUntilServing(url: string): Promise<void> {
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

/** `promise`, or an error naming `what` after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
