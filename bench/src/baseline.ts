import { fileURLToPath } from 'node:url';
import { NodeChild, track } from './child.js';
import { gbPerSecond } from './units.js';

const RECEIVER = fileURLToPath(new URL('./baseline-receiver.js', import.meta.url));
const SENDER = fileURLToPath(new URL('./baseline-sender.js', import.meta.url));

/** The receiver's buffer: written before the transfer, or never touched. */
export type BaselineMemory = 'touched' | 'fresh';

/** Where the two processes run when not both on loopback: command prefixes (network namespaces), the receiver's address. */
export interface BaselineNet {
  host: string;
  receiverWrap: string[];
  senderWrap: string[];
}

export interface BaselineRun {
  bytes: number;
  /** TCP connections the bytes were split over (one sender and one receiver thread each). */
  connections: number;
  /** Receiver's accepted connection to its last byte. */
  ms: number;
  gbps: number;
}

/**
 * One baseline transfer: a receiver process and a sender process push the image file's bytes over loopback
 * TCP with no processing, split over `connections` connections (a thread each at both ends, as an agent's
 * channels). The sender has loaded the file before it connects; the receiver times the transfer.
 * `memory`: the receiver's buffer pre-touched (no page faults in the timing) or fresh (as a destination's new
 * guest memory: every page faults on its first write).
 */
export async function runBaseline(
  imagePath: string,
  bytes: number,
  timeoutMs: number,
  memory: BaselineMemory = 'touched',
  net?: BaselineNet,
  connections = 1,
): Promise<BaselineRun> {
  const receiver = track(
    new NodeChild('baseline receiver', RECEIVER, [String(bytes), memory, net?.host ?? '127.0.0.1', String(connections)], {
      timeoutMs,
      ...(net ? { wrap: net.receiverWrap } : {}),
    }),
  );
  let sender: NodeChild | undefined;
  try {
    const [, address] = await receiver.waitForLine(/^listening (\S+)$/);
    sender = track(new NodeChild('baseline sender', SENDER, [address!, imagePath], { timeoutMs, ...(net ? { wrap: net.senderWrap } : {}) }));
    const [line] = await receiver.waitForLine(/^\{.*\}$/);
    const result = JSON.parse(line) as { bytes: number; ms: number };
    await Promise.all([receiver.succeeded(), sender.succeeded()]);
    if (result.bytes !== bytes) throw new Error(`baseline receiver got ${result.bytes} bytes, expected ${bytes}`);
    return { bytes, connections, ms: result.ms, gbps: gbPerSecond(bytes, result.ms) };
  } finally {
    receiver.kill();
    sender?.kill();
  }
}

/** The raw push over each number of connections in turn, and the fastest of them: the limit as a destination meets it. */
export interface BestPush {
  runs: BaselineRun[];
  best: BaselineRun;
}

/** Pushes the image once per entry of `connections` (in that order) into `memory`, and picks the fastest. */
export async function bestPush(imagePath: string, bytes: number, timeoutMs: number, memory: BaselineMemory, connections: readonly number[]): Promise<BestPush> {
  const runs: BaselineRun[] = [];
  for (const n of connections) runs.push(await runBaseline(imagePath, bytes, timeoutMs, memory, undefined, n));
  const best = runs.reduce((a, b) => (b.ms < a.ms ? b : a));
  return { runs, best };
}
