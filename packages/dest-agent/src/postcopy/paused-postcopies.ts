import { FrameType, HandshakeError, type Frame } from '@livemig/protocol';
import { sameAddress, type FramedSocket } from '@livemig/agent-runtime';

/** One recovery attempt's two connections, both opened by the source of the paused migration. */
export interface RecoveryLinks {
  control: FramedSocket;
  urgent: FramedSocket;
}

interface Paused {
  migrationId: string;
  sourceAddress: string;
  idleTimeoutMs: number;
  control: FramedSocket | undefined;
  urgent: FramedSocket | undefined;
  timer: NodeJS.Timeout | undefined;
  arrived: ((links: RecoveryLinks) => void) | undefined;
  /** Recovery ports opened for it (POST /migrations/:id/recover), closed once it recovered. */
  listeners: { close(): void }[];
}

/**
 * The post-copy migrations paused at this destination, by reservation id, and the recovery connections that
 * reach them: on the agent's main port or on a recovery port (POST /migrations/:id/recover), a connection whose
 * first frame is PostcopyResume (the new control connection) or UrgentHello (the new urgent one) is handed
 * here once TLS authenticated it. Only the paused migration's source address, reservation and migration id are
 * taken; an attempt whose second connection does not come within the idle timeout is dropped, and a newer
 * connection of the same kind replaces an older one (the source gave up on it).
 */
export class PausedPostcopies {
  readonly #paused = new Map<string, Paused>();

  /** Starts taking recovery connections for `reservationId`. */
  pause(reservationId: string, entry: { migrationId: string; sourceAddress: string; idleTimeoutMs: number }): void {
    this.#paused.set(reservationId, { ...entry, control: undefined, urgent: undefined, timer: undefined, arrived: undefined, listeners: [] });
  }

  /** Stops taking them (recovered for good, or the migration ended); half an attempt is closed. */
  resume(reservationId: string): void {
    const paused = this.#paused.get(reservationId);
    if (!paused) return;
    this.#paused.delete(reservationId);
    clearTimeout(paused.timer);
    paused.control?.destroy();
    paused.urgent?.destroy();
    for (const listener of paused.listeners) listener.close();
  }

  /** The paused migration with this id: its reservation and source. */
  find(migrationId: string): { reservationId: string; sourceAddress: string; idleTimeoutMs: number } | undefined {
    for (const [reservationId, paused] of this.#paused) {
      if (paused.migrationId === migrationId) return { reservationId, sourceAddress: paused.sourceAddress, idleTimeoutMs: paused.idleTimeoutMs };
    }
    return undefined;
  }

  /** Closes `listener` when the migration of `reservationId` recovers (at once if it is not paused). */
  closeOnRecovery(reservationId: string, listener: { close(): void }): void {
    const paused = this.#paused.get(reservationId);
    if (paused) paused.listeners.push(listener);
    else listener.close();
  }

  /** Resolves with the next attempt's two connections, once both came. */
  nextAttempt(reservationId: string): Promise<RecoveryLinks> {
    const paused = this.#paused.get(reservationId);
    if (!paused) return Promise.reject(new Error(`reservation ${reservationId} is not paused`));
    return new Promise((resolve) => {
      paused.arrived = resolve;
      this.#deliver(paused);
    });
  }

  /** Hands a complete attempt to the migration waiting for one. @returns whether it did */
  #deliver(paused: Paused): boolean {
    const { control, urgent, arrived } = paused;
    if (!control || !urgent || !arrived) return false;
    clearTimeout(paused.timer);
    paused.control = undefined;
    paused.urgent = undefined;
    paused.arrived = undefined;
    arrived({ control, urgent });
    return true;
  }

  /**
   * A recovery connection: kept for its paused migration, or refused (Abort with the reason).
   * @returns whether it was taken
   */
  offer(conn: FramedSocket, first: Frame, remoteAddress: string | undefined): boolean {
    const refuse = (why: string): false => {
      conn.abort(new HandshakeError(why));
      return false;
    };
    if (first.type !== FrameType.PostcopyResume && first.type !== FrameType.UrgentHello) return refuse('not a recovery connection');
    const paused = this.#paused.get(first.message.reservationId);
    if (!paused) return refuse('no post-copy migration with this reservation is paused here');
    if (!sameAddress(remoteAddress, paused.sourceAddress)) return refuse('a recovery connection must come from the paused migration\'s source');
    if (first.type === FrameType.PostcopyResume && first.message.migrationId !== paused.migrationId) {
      return refuse('PostcopyResume names another migration than the paused one');
    }
    const kind = first.type === FrameType.PostcopyResume ? 'control' : 'urgent';
    paused[kind]?.destroy();
    paused[kind] = conn;
    conn.keepAliveWhileSilent();
    clearTimeout(paused.timer);
    if (!this.#deliver(paused)) {
      // Half an attempt (or one the migration has not asked for yet): the rest comes at once from a live source, or never.
      paused.timer = setTimeout(() => {
        paused.control?.destroy();
        paused.urgent?.destroy();
        paused.control = undefined;
        paused.urgent = undefined;
      }, paused.idleTimeoutMs);
      paused.timer.unref();
    }
    return true;
  }
}
