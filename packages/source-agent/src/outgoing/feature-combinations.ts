import { BadArgumentError } from '@livemig/protocol';
import type { MigrationMode } from './options.js';

/** The options of one migration that not every guest or mode can take together. */
export interface FeatureChoice {
  mode: MigrationMode;
  /** The guest's workload: `fileserver` runs the guest kernel (soft pages, balloon, disk). */
  workload: string;
  workingSetPages: number;
  softPages: boolean;
  balloon: boolean;
}

/** Whether the guest runs the small guest kernel (the only guests that publish soft pages or balloon). */
export function workloadHasKernel(workload: string): boolean {
  return workload === 'fileserver';
}

/**
 * Refuses the combinations that would lose pages, before anything connects (`source-agent run` checks at
 * start, exit 2; every migration again before its handshake).
 * @throws BadArgumentError naming the first combination that cannot work
 */
export function checkFeatureCombination(choice: FeatureChoice): void {
  const kernel = workloadHasKernel(choice.workload);
  if ((choice.softPages || choice.balloon) && !kernel) {
    throw new BadArgumentError(`--soft-pages, --balloon: the ${choice.workload} workload has no guest kernel (use --workload fileserver)`);
  }
  if (kernel && choice.mode !== 'precopy') {
    // The guest kernel reads its pages without post-copy's access barrier: they must all be there at the switch.
    throw new BadArgumentError(`--mode ${choice.mode}: the ${choice.workload} guest's kernel does not check for missing pages; migrate it with --mode precopy`);
  }
  if (choice.workingSetPages > 0) {
    // The framework defers working-set pages to stop-and-copy; a switch to post-copy would leave them unsent.
    if (choice.mode !== 'precopy') throw new BadArgumentError(`--working-set works with --mode precopy only, not ${choice.mode}`);
    if (choice.softPages || choice.balloon) throw new BadArgumentError('--working-set cannot be combined with --soft-pages or --balloon');
    // The kernel's workload marks no page accessed: the working set would stay empty and defer nothing.
    if (kernel) throw new BadArgumentError(`--working-set: the ${choice.workload} guest marks no page accessed`);
  }
}
