import type { FramedSocket } from '@livemig/agent-runtime';

/** How a committed, parked guest leaves the wait for Confirm. */
export type ConfirmDecision =
  /** The source confirmed: Activated goes out on `conn`, the connection that brought the Confirm. */
  | { action: 'activate'; by: 'source'; conn: FramedSocket }
  /** This agent's operator decided to run it without the source's Confirm. */
  | { action: 'activate'; by: 'operator' }
  /** The source refused the commit (Abort instead of Confirm) or the operator discarded the guest. */
  | { action: 'discard'; by: 'source' | 'operator'; reason: string };

/**
 * One committed guest whose vCPUs wait for the source's Confirm (PROTOCOL.md, "Commit", rule 6). The first
 * decision wins; later ones are ignored and say so.
 */
export class ParkedGuest {
  readonly decided: Promise<ConfirmDecision>;
  readonly parkedAt = new Date().toISOString();
  private settle!: (decision: ConfirmDecision) => void;
  private taken = false;

  constructor(
    readonly migrationId: string,
    readonly guestId: string,
  ) {
    this.decided = new Promise((resolve) => (this.settle = resolve));
  }

  /** Takes `decision` unless one was taken already; returns whether it was. */
  decide(decision: ConfirmDecision): boolean {
    if (this.taken) return false;
    this.taken = true;
    this.settle(decision);
    return true;
  }
}

/**
 * The destination's guests between Committed and their decision, by migration id, and the ids it activated:
 * what an outcome connection's Confirm and the operator's resolve act on.
 */
export class ParkedGuests {
  private readonly parked = new Map<string, ParkedGuest>();
  /** Migration ids whose guest was activated here: a second Confirm is answered with Activated again. */
  private readonly activated = new Set<string>();

  park(migrationId: string, guestId: string): ParkedGuest {
    const guest = new ParkedGuest(migrationId, guestId);
    this.parked.set(migrationId, guest);
    void guest.decided.then((decision) => {
      this.parked.delete(migrationId);
      if (decision.action === 'activate') this.activated.add(migrationId);
    });
    return guest;
  }

  get(migrationId: string): ParkedGuest | undefined {
    return this.parked.get(migrationId);
  }

  wasActivated(migrationId: string): boolean {
    return this.activated.has(migrationId);
  }

  /** The guests waiting now, oldest first. */
  list(): { migrationId: string; guestId: string; parkedAt: string }[] {
    return [...this.parked.values()].map(({ migrationId, guestId, parkedAt }) => ({ migrationId, guestId, parkedAt }));
  }
}
