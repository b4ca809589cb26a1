import {
  BadMessageError,
  DigestMismatchError,
  FrameType,
  MAX_REPAIR_PAGES,
  MAX_REPAIR_PASSES,
  PageIndexOutOfRangeError,
  RepairFailedError,
  UnexpectedFrameError,
  encodeRepairRequest,
  frameTypeName,
  readPageBatch,
  requirePlainBatch,
  type PageChecksums,
} from '@livemig/protocol';
import type { GuestMemory } from '@livemig/guest';
import type { FramedSocket, Logger } from '@livemig/agent-runtime';
import type { ReceivedState } from './receive.js';

export interface RepairOptions {
  checksums: PageChecksums;
  memory: GuestMemory;
  /** How long each answer of the source may take. */
  answerTimeoutMs: number;
  log: Logger;
}

export interface RepairResult {
  /** The digest after the last pass: Complete's. */
  digest: string;
  passes: number;
  /** Pages re-sent over every pass. */
  pages: number;
}

/**
 * The repair step at commit (capability direct-pages-v2; PROTOCOL.md, "Repair at commit"). The rebuilt image's
 * digest differs from Complete's: a Raw page of a PageBatchDirect is outside the frame CRC, so a corrupt one is
 * first seen here. Per pass: ask for the source's per-page CRC table, compare it with this side's, ask for the
 * pages whose CRCs differ (only those), apply them from plain PageBatch frames on the control connection (their
 * bytes under the frame CRC), and check the digest again. The guest is parked at the source, so what it sends is
 * the image Complete's digest describes.
 * @throws RepairFailedError after MAX_REPAIR_PASSES passes, or when more pages differ than one pass re-sends;
 *   DigestMismatchError when the tables agree (the CPU state differs: nothing to repair); UnexpectedFrameError,
 *   BadMessageError, PageIndexOutOfRangeError for answers that do not follow the exchange; the connection's errors
 */
export async function repairAtCommit(conn: FramedSocket, received: ReceivedState, options: RepairOptions): Promise<RepairResult> {
  const { checksums } = options;
  const expected = received.complete.digest;
  let pages = 0;
  for (let pass = 1; pass <= MAX_REPAIR_PASSES; pass++) {
    await conn.send(encodeRepairRequest({ pass }));
    const differing = await receiveTableAndCompare(conn, pass, options);
    if (differing.length === 0) {
      throw new DigestMismatchError(`rebuilt image digest differs from the source's ${expected} while every page's CRC agrees: the CPU state differs`);
    }
    if (differing.length > MAX_REPAIR_PAGES) {
      throw new RepairFailedError(`repair pass ${pass}: ${differing.length} pages differ from the source's, more than the ${MAX_REPAIR_PAGES} a pass re-sends`);
    }
    options.log.warn({ pass, pages: differing.length }, 'image digest differs from the source\'s: repairing the pages whose CRCs differ');
    await conn.send(encodeRepairRequest({ pass, pages: Uint32Array.from(differing) }));
    pages += await receivePages(conn, pass, differing, options);
    const digest = checksums.digest(received.cpuState);
    if (digest === expected) return { digest, passes: pass, pages };
  }
  throw new RepairFailedError(`image digest still differs from the source's ${expected} after ${MAX_REPAIR_PASSES} repair passes (${pages} pages re-sent)`);
}

/** RepairTable slices in page order until the whole table is here; returns the pages whose CRCs differ. */
async function receiveTableAndCompare(conn: FramedSocket, pass: number, options: RepairOptions): Promise<number[]> {
  const { checksums } = options;
  const differing: number[] = [];
  let next = 0;
  while (next < checksums.pageCount) {
    const frame = await conn.receive(options.answerTimeoutMs, 'the source\'s page table');
    if (frame.type !== FrameType.RepairTable) throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} while waiting for the source's page table`);
    const { first, crcs } = frame.message;
    if (frame.message.pass !== pass) throw new BadMessageError(`RepairTable of pass ${frame.message.pass} during pass ${pass}`);
    if (first !== next || first + crcs.length > checksums.pageCount) {
      throw new BadMessageError(`RepairTable slice of pages ${first}..${first + crcs.length - 1}, expected one from page ${next} within ${checksums.pageCount}`);
    }
    checksums.collectDiffering(first, crcs, differing);
    next += crcs.length;
  }
  return differing;
}

/** Applies the re-sent pages (only those asked for) until RepairEnd; returns how many were applied. */
async function receivePages(conn: FramedSocket, pass: number, asked: readonly number[], options: RepairOptions): Promise<number> {
  const { checksums, memory } = options;
  const wanted = new Set(asked);
  const sink = { pageCount: memory.pageCount, page: (index: number) => memory.page(index) };
  let applied = 0;
  const onPage = (index: number, _encoding: number, pageCrc: number): void => {
    if (!wanted.delete(index)) throw new PageIndexOutOfRangeError(`repair pass ${pass}: page ${index} was not asked for (or came twice)`);
    checksums.record(index, pageCrc);
    applied++;
  };
  for (;;) {
    const frame = await conn.receive(options.answerTimeoutMs, 'the repaired pages');
    if (frame.type === FrameType.PageBatch) {
      requirePlainBatch(frame, 'among repaired pages');
      readPageBatch(frame.payload, sink, onPage, frame.rawPageCrcs);
      conn.release(frame);
    } else if (frame.type === FrameType.RepairEnd) {
      if (frame.message.pass !== pass || frame.message.pages !== asked.length || wanted.size > 0) {
        throw new BadMessageError(`RepairEnd of pass ${frame.message.pass} after ${applied} of the ${asked.length} pages asked for in pass ${pass}`);
      }
      return applied;
    } else {
      throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} while waiting for the repaired pages`);
    }
  }
}
