import { postToMigration, type MigrationCommandArguments } from '@livemig/agent-runtime';

export type RecoverArguments = MigrationCommandArguments;

/**
 * `dest-agent recover` (QEMU's migrate-recover): opens the recovery port of a post-copy migration paused here
 * (POST /migrations/:id/recover) and prints `recovery HOST:PORT`, the address `source-agent resume --target`
 * takes, then the agent's answer as JSON.
 * @throws ControlClientError when the agent refuses (LM_ERR_CONFLICT: not in post-copy here; LM_ERR_NOT_FOUND)
 */
export async function recoverCommand(args: RecoverArguments): Promise<number> {
  const answer = await postToMigration<{ id: string; host: string; port: number }>(args, 'recover');
  process.stdout.write(`recovery ${answer.host}:${answer.port}\n${JSON.stringify(answer, null, 2)}\n`);
  return 0;
}
