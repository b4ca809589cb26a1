import { startDest } from './agents.js';
import { FrameProxy } from './frame-proxy.js';

/**
 * A destination that dies with Complete on its way, seen through a proxy on its control connection: the proxy
 * holds the source's Complete; `killAtComplete()` waits for it, kills the destination process (SIGKILL), then
 * lets Complete go on to a dead peer. The source can then not learn the outcome of its migration.
 */
export async function dyingDestination(stateDir: string): Promise<{
  address: string;
  killAtComplete: () => Promise<void>;
  close: () => Promise<void>;
}> {
  const dest = await startDest(['--once', '--state-dir', stateDir]);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const proxy = await FrameProxy.start({ port: dest.port }, [
    { direction: 'toTarget', frame: 'Complete', connection: 1, action: { kind: 'delay', until: released } },
  ]);
  return {
    address: proxy.address,
    killAtComplete: async () => {
      await proxy.waitFor('Complete', { direction: 'toTarget' });
      dest.child.kill('SIGKILL');
      await dest.done;
      release();
    },
    close: () => proxy.close(),
  };
}
