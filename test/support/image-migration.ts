import { once } from 'node:events';
import { DestAgent, type ArrivedGuest } from '@livemig/dest-agent';
import { readJson, runSource, type Finished } from './agents.js';

/** Something the migration passes through on its way to the destination (a proxy on its port). */
export interface Relay {
  readonly address: string;
  close(): Promise<void>;
}

export interface MigratedImage<R extends Relay | undefined> {
  /** The guest as it arrived at the in-process destination. */
  guest: ArrivedGuest['guest'];
  /** The source process's end, and its report. */
  done: Finished;
  report: Record<string, any>;
  /** The destination's report of the arrival. */
  destReport: ArrivedGuest['report'];
  relay: R;
  /** The destination's guest memory over the first `length` bytes. */
  memory(length: number): Buffer;
}

/**
 * A paused guest started from `imagePath` (`source-agent --image-file --paused`) migrated at once into an
 * in-process DestAgent, through `relay` when one is given (started on the agent's port); `check` then looks at
 * what arrived, and the guest, the agent and the relay are stopped whatever it found.
 */
export async function withMigratedImage<R extends Relay | undefined = undefined>(
  options: { imagePath: string; reportPath: string; sourceArgs?: string[]; relay?: (port: number) => Promise<R> },
  check: (migrated: MigratedImage<R>) => Promise<void> | void,
): Promise<void> {
  const agent = new DestAgent({ maxMemoryBytes: 1024 ** 3 });
  const { port } = await agent.listen(0);
  const relay = (options.relay ? await options.relay(port) : undefined) as R;
  try {
    const arrived = once(agent, 'arrived') as Promise<[ArrivedGuest]>;
    const target = relay?.address ?? `127.0.0.1:${port}`;
    const source = runSource(['--image-file', options.imagePath, '--paused', '--migrate-to', target, '--migrate-after', '0', '--report', options.reportPath, ...(options.sourceArgs ?? [])]);
    const done = await source.done;
    // A source that failed sends no guest: nothing would arrive.
    if (done.code !== 0) throw new Error(`source-agent exited with ${done.code}: ${done.stderr}`);
    const [{ guest, report: destReport }] = await arrived;
    try {
      const memory = (length: number): Buffer => Buffer.from(guest.memory.slots[0]!.buffer, 0, length);
      await check({ guest, done, report: readJson(options.reportPath), destReport, relay, memory });
    } finally {
      await guest.stop();
    }
  } finally {
    await agent.close();
    await relay?.close();
  }
}
