import { FrameType, HandshakeError, type Frame } from '@livemig/protocol';
import { sameAddress, type FramedSocket } from '@livemig/agent-runtime';

/** One recovery attempt's two connections, both opened by the source of the paused migration. */
export interface RecoveryLinks {
  control: FramedSocket;
  urgent: FramedSocket;
}

interface Paused {
  /** `running`: post-copy runs, a recovery connection interrupts it (the source lost what this side has not noticed). */
  state: 'running' | 'paused';
  interrupt: () => void;
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
 * The post-copy migrations at this destination after their switch, by reservation id, and the recovery
 * connections that reach them: on the agent's main port or on a recovery port (POST /migrations/:id/recover), a
 * connection whose first frame is PostcopyResume (the new control connection) or UrgentHello (the new urgent
 * one) is handed here once TLS authenticated it. Only the migration's source address, reservation and migration
 * id are taken; an attempt whose second connection does not come within the idle timeout is dropped, and a newer
 * connection of the same kind replaces an older one (the source gave up on it). A recovery connection for a
 * migration that still runs interrupts it: its source has lost connections this side has not noticed yet (a
 * silent peer is noticed only by TCP keep-alive, minutes later), so it pauses and takes the attempt.
 */
export class PausedPostcopies {
  readonly #paused = new Map<string, Paused>();

  /** From the switch on: recovery connections for `reservationId` are taken; one that comes while it runs calls `interrupt`. */
  track(reservationId: string, entry: { migrationId: string; sourceAddress: string; idleTimeoutMs: number }, interrupt: () => void): void {
    this.#paused.set(reservationId, { ...entry, state: 'running', interrupt, control: undefined, urgent: undefined, timer: undefined, arrived: undefined, listeners: [] });
  }

  /** Post-copy paused: the next attempt goes to nextAttempt(). */
  pause(reservationId: string): void {
    const paused = this.#paused.get(reservationId);
    if (paused) paused.state = 'paused';
  }

  /** Recovered: it runs again; the recovery ports close. */
  resume(reservationId: string): void {
    const paused = this.#paused.get(reservationId);
    if (!paused) return;
    paused.state = 'running';
    for (const listener of paused.listeners.splice(0)) listener.close();
  }

  /** Post-copy is over: no more recovery connections; half an attempt is closed. */
  untrack(reservationId: string): void {
    const paused = this.#paused.get(reservationId);
    if (!paused) return;
    this.#paused.delete(reservationId);
    clearTimeout(paused.timer);
    paused.control?.destroy();
    paused.urgent?.destroy();
    for (const listener of paused.listeners) listener.close();
  }

  /** The post-copy migration with this id (running or paused): its reservation and source. */
  find(migrationId: string): { reservationId: string; sourceAddress: string; idleTimeoutMs: number } | undefined {
    for (const [reservationId, paused] of this.#paused) {
      if (paused.migrationId === migrationId) return { reservationId, sourceAddress: paused.sourceAddress, idleTimeoutMs: paused.idleTimeoutMs };
    }
    return undefined;
  }

  /** Closes `listener` when the migration of `reservationId` recovers or ends (at once if it is not tracked). */
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
    if (!paused) return refuse('no post-copy migration with this reservation runs here');
    if (!sameAddress(remoteAddress, paused.sourceAddress)) return refuse('a recovery connection must come from the paused migration\'s source');
    if (first.type === FrameType.PostcopyResume && first.message.migrationId !== paused.migrationId) {
      return refuse('PostcopyResume names another migration than the paused one');
    }
    const kind = first.type === FrameType.PostcopyResume ? 'control' : 'urgent';
    paused[kind]?.destroy();
    paused[kind] = conn;
    conn.keepAliveWhileSilent();
    clearTimeout(paused.timer);
    if (paused.state === 'running') paused.interrupt();
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
