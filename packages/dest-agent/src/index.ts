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
export { defaultMaxMemory, listenCommand } from './listen-command.js';
export { receiveGuest, type ReceivedGuest, type ReceiverOptions } from './receiver.js';
export { MemoryReservations, type Reservation } from './reservations.js';
