/**
 * Baseline sender: `node baseline-sender.js HOST:PORT[,PORT...] IMAGE`. One worker thread per port; each loads
 * its contiguous share of the image (`connectionRanges`, in port order) into memory first. Once all have loaded,
 * each connects to its port and writes its share as it is, with backpressure, and closes. No framing, no
 * encoding, no checksums.
 */
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { connectionRanges } from './baseline-ranges.js';

const [target, imagePath] = process.argv.slice(2);
const match = target === undefined ? null : /^(.+):(\d+(?:,\d+)*)$/.exec(target);
if (!match || imagePath === undefined) {
  process.stderr.write('usage: baseline-sender HOST:PORT[,PORT...] IMAGE\n');
  process.exit(2);
}
const host = match[1]!;
const ports = match[2]!.split(',').map(Number);
const { size } = await stat(imagePath);

const workers = connectionRanges(size, ports.length).map(
  (range, i) => new Worker(new URL('./baseline-sender-worker.js', import.meta.url), { workerData: { host, port: ports[i], imagePath, range } }),
);
const failed = (worker: Worker): Promise<never> => once(worker, 'error').then(([err]) => Promise.reject(err as Error));
const next = (worker: Worker, message: string): Promise<unknown> =>
  Promise.race([once(worker, 'message').then(([m]) => (m === message ? m : Promise.reject(new Error(`sender worker: ${String(m)}`)))), failed(worker)]);
try {
  await Promise.all(workers.map((worker) => next(worker, 'loaded')));
  const sent = workers.map((worker) => next(worker, 'sent'));
  for (const worker of workers) worker.postMessage('go');
  await Promise.all(sent);
} catch (err) {
  process.stderr.write(`baseline-sender: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
await Promise.all(workers.map((worker) => worker.terminate()));
