#!/usr/bin/env node
// Writes a PSK file for the agents' --tls-psk-file: one `identity:hexkey` line per identity, each key 32 random
// bytes. Usage: node scripts/make-psk.mjs FILE IDENTITY... An existing FILE is kept as it is (a restarted
// demo keeps its keys); the file is created readable by its owner only.
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';

const [file, ...identities] = process.argv.slice(2);
if (file === undefined || identities.length === 0) {
  process.stderr.write('usage: node scripts/make-psk.mjs FILE IDENTITY...\n');
  process.exit(2);
}
if (existsSync(file)) {
  process.stdout.write(`${file} exists; keeping its keys\n`);
} else {
  const lines = identities.map((identity) => `${identity}:${randomBytes(32).toString('hex')}\n`).join('');
  writeFileSync(file, lines, { mode: 0o600, flag: 'wx' });
  process.stdout.write(`wrote ${identities.length} key(s) to ${file}\n`);
}
