import {
  MAX_REPAIR_TABLE_PAGES,
  PageBatchWriter,
  UnexpectedFrameError,
  checkPageIndices,
  encodeRepairEnd,
  encodeRepairTable,
  type RepairRequestMessage,
} from '@livemig/protocol';
import type { MigrationContext } from './context.js';

/**
 * The source's side of the repair step at commit (PROTOCOL.md, "Repair at commit"): the guest is parked, so its
 * memory is the image Complete's digest describes. A request without pages gets this side's per-page CRC table in
 * RepairTable slices; a request with pages gets exactly those pages, read from guest memory into plain PageBatch
 * frames (the frame CRC covers their bytes), then RepairEnd. The table is left as it is: Committed's proof is
 * checked against it.
 * @throws UnexpectedFrameError when direct-pages-v2 was not agreed; PageIndexOutOfRangeError; the connection's errors
 */
export async function serveRepair(ctx: MigrationContext, request: RepairRequestMessage): Promise<void> {
  if (!ctx.directPages) throw new UnexpectedFrameError('RepairRequest from a destination that did not agree to direct-pages-v2');
  const { checksums, control, report } = ctx;
  const { pass, pages } = request;
  if (pages === undefined) {
    for (let first = 0; first < checksums.pageCount; first += MAX_REPAIR_TABLE_PAGES) {
      const count = Math.min(MAX_REPAIR_TABLE_PAGES, checksums.pageCount - first);
      await control.send(encodeRepairTable({ pass, first, crcs: checksums.slice(first, count) }));
    }
    return;
  }
  checkPageIndices(pages, checksums.pageCount);
  const memory = ctx.guest.memory;
  const writer = new PageBatchWriter();
  for (const index of pages) {
    if (writer.add(index, memory.page(index)) === undefined) {
      await control.send(writer.takeFrame());
      writer.add(index, memory.page(index));
    }
  }
  if (writer.pageCount > 0) await control.send(writer.takeFrame());
  await control.send(encodeRepairEnd({ pass, pages: pages.length }));
  report.repair = { passes: pass, pages: (report.repair?.pages ?? 0) + pages.length };
  ctx.log.warn({ pass, pages: pages.length }, 'the destination asked for pages again at commit: re-sent');
}
