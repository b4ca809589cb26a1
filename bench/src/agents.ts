import { fileURLToPath } from 'node:url';
import { NodeChild, track } from './child.js';

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

/** The first line of an error's message (child-process errors carry their stderr after it). */
export function firstLine(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}
