import { fileURLToPath } from 'node:url';
import { NodeChild, exitsWithin, track } from './child.js';

/** The repository root: the agents run from here. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SOURCE_AGENT = fileURLToPath(new URL('../../packages/source-agent/bin/source-agent.js', import.meta.url));
export const DEST_AGENT = fileURLToPath(new URL('../../packages/dest-agent/bin/dest-agent.js', import.meta.url));

/** The text of `source-agent run --help`: what the benchmarks read to see which flags the agent takes. */
export async function sourceRunHelp(timeoutMs: number): Promise<string> {
  const help = track(new NodeChild('source-agent --help', SOURCE_AGENT, ['run', '--help'], { timeoutMs, cwd: ROOT }));
  await help.succeeded();
  return help.stdoutLines.join('\n');
}

/**
 * The final digest of a guest run to its end by `source-agent run GUEST` with no migration: the oracle's.
 * @throws Error when the run fails or prints no final digest
 */
export async function oracleDigest(guestArgs: string[], timeoutMs: number): Promise<string> {
  const run = track(new NodeChild('source-agent (oracle)', SOURCE_AGENT, ['run', ...guestArgs], { timeoutMs, cwd: ROOT }));
  await run.succeeded();
  const digest = run.stdoutLines.flatMap((line) => /^final digest ([0-9a-f]{64})$/.exec(line)?.[1] ?? [])[0];
  if (!digest) throw new Error('the oracle run printed no final digest');
  return digest;
}

/** The first line of an error's message (child-process errors carry their stderr after it). */
export function firstLine(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

/** How long one agent may outlive the other before it counts as hung. */
const EXIT_GRACE_MS = 30_000;

/**
 * One migration between a started destination agent and the source agent `startSource` starts once the
 * destination prints its address. Each side must end once the other has (a paused guest has nothing left to run
 * after the commit); both are killed at the end however it went. Returns the first failure's first line.
 */
export async function runAgentPair(dest: NodeChild, startSource: (address: string) => NodeChild): Promise<{ error: string | null; source: NodeChild | undefined }> {
  let source: NodeChild | undefined;
  let error: string | null = null;
  try {
    const [, address] = await dest.waitForLine(/^listening (\S+)$/);
    source = startSource(address!);
    await Promise.race([source.exited, dest.exited]);
    await Promise.all([exitsWithin(source, EXIT_GRACE_MS), exitsWithin(dest, EXIT_GRACE_MS)]);
    await source.succeeded();
    await dest.succeeded();
  } catch (e) {
    error = firstLine(e);
  } finally {
    dest.kill();
    source?.kill();
    await Promise.allSettled([dest.exited, source?.exited]);
  }
  return { error, source };
}
