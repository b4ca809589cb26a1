export { main } from './cli.js';
export {
  COMMIT_JOURNAL_FILE,
  CommitJournal,
  type CommitJournalOptions,
  type JournalOutcome,
  type JournalRecord,
  type OutcomeAnswer,
} from './commit-journal.js';
export { DestAgent, type ArrivedGuest, type DestAgentOptions } from './dest-agent.js';
export type { IncomingReport } from './incoming-report.js';
export { receiveMigration, type IncomingOptions } from './incoming/incoming-migration.js';
export { IncomingRecord } from './incoming/incoming-record.js';
export { defaultMaxMemory, listenCommand } from './listen-command.js';
export { MemoryReservations, type Reservation } from './reservations.js';
export { FaultRequests } from './postcopy/fault-requests.js';
export { PlacingSink, type Placements } from './postcopy/placing-sink.js';
export { PrefaultedMemory } from './prefaulted-memory.js';
