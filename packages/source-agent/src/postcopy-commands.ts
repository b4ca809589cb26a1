import { postToMigration, printJson, type MigrationCommandArguments } from '@livemig/agent-runtime';

/** `source-agent resume|discard`: the agent's control API and the paused post-copy migration. */
export type PostcopyCommandArguments = MigrationCommandArguments;

export interface ResumeArguments extends PostcopyCommandArguments {
  /** Where the destination listens for the recovery (`dest-agent recover` prints it); default the migration's target. */
  target?: string;
  /** The recovery port on the migration's own destination host. */
  port?: number;
}

/**
 * `source-agent resume` (QEMU's migrate -r): reconnects a post-copy migration paused at the source to the
 * destination's recovery port (POST /migrations/:id/resume); prints the agent's answer as JSON.
 * @throws ControlClientError when the agent refuses (LM_ERR_CONFLICT: not paused; LM_ERR_NOT_FOUND; LM_ERR_BAD_REQUEST)
 */
export async function resumeCommand(args: ResumeArguments): Promise<number> {
  const body = args.target !== undefined ? { target: args.target } : args.port !== undefined ? { port: args.port } : {};
  return printJson(await postToMigration(args, 'resume', body));
}

/**
 * `source-agent discard`: drops the parked copy of a paused post-copy migration for good (the guest then runs
 * only at the destination, or nowhere: POST /migrations/:id/discard); prints the migration as JSON.
 * @throws ControlClientError when the agent refuses (LM_ERR_CONFLICT: not paused; LM_ERR_NOT_FOUND)
 */
export async function discardCommand(args: PostcopyCommandArguments): Promise<number> {
  return printJson(await postToMigration(args, 'discard'));
}
