import type { MigrationReport } from '@livemig/source-agent';
import type { PostcopyDestReport } from './incoming/post-copy.js';

/** What the destination knows about one incoming migration (and, once hosted, what became of the guest). */
export interface IncomingReport {
  /** This agent's id for the incoming migration (its control API names it so). */
  id: string;
  /**
   * `receiving` until the guest is committed; `committed` while it is parked here waiting for the source's
   * Confirm (or the operator's decision); then `completed` once activated here, or `failed` when discarded.
   */
  /** `postcopy-paused`: a connection was lost after the switch; the guest runs here, waiting for the source to reconnect. */
  status: 'receiving' | 'committed' | 'postcopy-paused' | 'completed' | 'failed';
  error?: { code: string; message: string };
  guestId: string | null;
  source: string;
  startedAt: string;
  /** Connection accepted to guest activated (or to failure). */
  totalTimeMs: number;
  memoryBytes: number | null;
  vcpus: number | null;
  workload: string | null;
  rounds: number;
  pagesReceived: number;
  bytesReceived: number;
  /** Image digest rebuilt here and checked against the source's before commit. */
  receivedDigest: string | null;
  /** The repair step at commit (direct-pages-v2), when the digests differed: its passes and the pages re-sent. */
  repair?: { passes: number; pages: number };
  /** Time to write and fsync the commit record in the journal, before Committed went out. */
  commitJournalMs: number | null;
  /**
   * Committed handed to the socket to the source's Confirm read (on any connection): how long the committed
   * guest waited parked for the acknowledgement, the downtime Confirm adds; null when no Confirm came.
   */
  confirmWaitMs: number | null;
  /** Time to start the vCPUs from the received CPU state. */
  activationMs: number | null;
  /** Peak resident set size of this process when the migration ended. */
  peakRssBytes: number;
  /**
   * CPU time of this whole process (every thread) from the accepted connection until the guest was activated
   * here or the migration failed; frozen then, so the guest's own run here is not in it. Other migrations this
   * agent serves at the same time are.
   */
  cpuMs: number;
  /** Set when the guest finished its `--ops` here: the deterministic oracle's output. */
  finalDigest: string | null;
  opsDone: number | null;
  /** How hosting the guest here ended. */
  ended: 'migrated' | 'finished' | 'run-for' | 'signal' | null;
  /** When the guest was migrated onward from here (A -> B -> C). */
  onward: MigrationReport | null;
  /** Post-copy's faults, blocktime and fault latency, when the guest came by post-copy. */
  postcopy?: PostcopyDestReport;
  /** Times post-copy paused so far (a connection lost after the switch), live while it runs. */
  postcopyPauses?: number;
}
