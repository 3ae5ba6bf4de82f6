// Load client for frontail: N socket.io-client@2 connections in one Node
// process, counting what they receive the same way the Rust clients do
// (bench/src/client.rs): every `seq=N t=T` stamp in a `line` event is a line;
// latency is process.hrtime.bigint() (CLOCK_MONOTONIC on Linux, the clock the
// generator stamps with) minus T, in the same log buckets as
// bench/src/histogram.rs.
//
// Talks to the runner over stdio: prints `ready` once every client is
// connected, `progress <lines>` twice a second, and `result <json>` after
// reading `stop`; reads `window <start_ns> <end_ns>` to learn the
// measurement window.
//
//   NODE_PATH=.tools/bench/npm/node_modules node frontail_client.js \
//     --url http://127.0.0.1:9001 --clients 10 --stalled 1
'use strict';

const crypto = require('crypto');
const readline = require('readline');
const io = require('socket.io-client');

function arg(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

const url = arg('url');
const reading = Number(arg('clients', '1'));
const stalled = Number(arg('stalled', '0'));
// frontail serves each set of files on a namespace named after the md5 of
// its arguments; `-` is stdin.
const namespace = crypto.createHash('md5').update(arg('files', '-')).digest('hex');

const BUCKETS_PER_OCTAVE = 32;
let windowStart = 0n;
let windowEnd = 0n;
let totalReceived = 0;
const STAMP = /seq=(\d+) t=(\d+)/g;

function newClient(isStalled) {
  return {
    received: 0,
    in_window: 0,
    frames: 0,
    gaps: 0,
    out_of_order: 0,
    max_ns: 0,
    counts: new Map(),
    nextSeq: 1,
    error: null,
    stalled: isStalled,
    socket: null,
  };
}

function record(client, line) {
  const now = process.hrtime.bigint();
  const inWindow = now >= windowStart && now < windowEnd;
  client.frames += 1;
  STAMP.lastIndex = 0;
  let match;
  while ((match = STAMP.exec(line)) !== null) {
    const seq = Number(match[1]);
    let latency = Number(now - BigInt(match[2]));
    if (latency < 1) latency = 1;
    client.received += 1;
    totalReceived += 1;
    if (inWindow) client.in_window += 1;
    if (latency > client.max_ns) client.max_ns = latency;
    const bucket = Math.floor(Math.log2(latency) * BUCKETS_PER_OCTAVE);
    client.counts.set(bucket, (client.counts.get(bucket) || 0) + 1);
    if (seq < client.nextSeq) {
      client.out_of_order += 1;
    } else {
      client.gaps += seq - client.nextSeq;
      client.nextSeq = seq + 1;
    }
  }
}

function connect(client) {
  return new Promise((resolve, reject) => {
    const socket = io(`${url}/${namespace}`, {
      forceNew: true,
      transports: ['websocket'],
      reconnection: false,
      timeout: 30000,
    });
    client.socket = socket;
    socket.on('connect', () => {
      if (client.stalled) {
        // Stop reading the TCP socket: the server's writes back up.
        const ws = socket.io.engine.transport.ws;
        if (ws && ws._socket) ws._socket.pause();
      }
      resolve();
    });
    socket.on('connect_error', (e) => reject(new Error(`connect_error: ${e}`)));
    socket.on('connect_timeout', () => reject(new Error('connect timeout')));
    socket.on('line', (line) => record(client, line));
    socket.on('disconnect', (reason) => {
      if (!stopping) client.error = client.error || `disconnected: ${reason}`;
    });
  });
}

let stopping = false;
const clients = [];
for (let i = 0; i < reading; i += 1) clients.push(newClient(false));
for (let i = 0; i < stalled; i += 1) clients.push(newClient(true));

async function main() {
  // Connect in batches, as the Rust clients do.
  for (let i = 0; i < clients.length; i += 64) {
    await Promise.all(clients.slice(i, i + 64).map(connect));
  }
  process.stdout.write('ready\n');
  const progress = setInterval(() => process.stdout.write(`progress ${totalReceived}\n`), 500);
  const commands = readline.createInterface({ input: process.stdin });
  commands.on('line', (command) => {
    const words = command.trim().split(/\s+/);
    if (words[0] === 'window') {
      windowStart = BigInt(words[1]);
      windowEnd = BigInt(words[2]);
    } else if (words[0] === 'stop') {
      stopping = true;
      clearInterval(progress);
      const result = clients.map((c) => ({
        received: c.received,
        in_window: c.in_window,
        frames: c.frames,
        gaps: c.gaps,
        out_of_order: c.out_of_order,
        max_ns: c.max_ns,
        buckets: [...c.counts.entries()],
        error: c.error,
        stalled: c.stalled,
      }));
      process.stdout.write(`result ${JSON.stringify(result)}\n`, () => {
        for (const c of clients) c.socket.close();
        process.exit(0);
      });
    }
  });
}

main().catch((e) => {
  process.stdout.write(`error ${e.message}\n`);
  process.exit(1);
});
