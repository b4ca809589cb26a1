import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';

/** The identity the benches' agents use with a PSK (`--tls-identity`). */
export const BENCH_PSK_IDENTITY = 'bench';

/** Writes a PSK file (`identity:hex key`, mode 0600, as `--tls-psk-file` reads it) with one fresh random key; resolves with the key. */
export async function writePskFile(file: string, identity = BENCH_PSK_IDENTITY): Promise<string> {
  const key = randomBytes(32).toString('hex');
  await writeFile(file, `${identity}:${key}\n`, { mode: 0o600 });
  return key;
}
