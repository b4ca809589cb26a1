import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FramedSocket } from '@livemig/agent-runtime';
import { Guest, GuestMemory, PAGE_SIZE, PresentMap, parseWorkloadSpec } from '@livemig/guest';
import { FrameType, PageBatchWriter, PageChecksums } from '@livemig/protocol';
import { FaultRequests } from '../src/postcopy/fault-requests.js';
import { FaultService } from '../src/postcopy/urgent-connection.js';
import { waitFor } from '../../../test/support/wait.js';

// After a recovery, the requests asked on the lost urgent connection are asked again first on the new one, and
// the waiting vCPUs run on once the answers are placed.

const PAGES = 64;

describe('fault service after a recovery', () => {
  it('asks every outstanding request again on the new urgent connection', async () => {
    const workload = parseWorkloadSpec({ name: 'incr', seed: 1, ops: 64, params: {} });
    const memory = GuestMemory.create(PAGES * PAGE_SIZE);
    const map = PresentMap.create(PAGES, 2);
    map.startPostcopy([2, 40]);
    const requests = new FaultRequests(map);
    const guest = await Guest.start({ memory, vcpus: 2, workload, present: map });
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      await waitFor(() => map.faults().every((f) => f.waiting), { what: 'both vCPUs to fault' });
      // Asked on the urgent connection that was then lost: no answer came.
      expect(requests.collect().sort((a, b) => a - b)).toEqual([2, 40]);

      const accepted = once(server, 'connection');
      const source = new FramedSocket(connect((server.address() as { port: number }).port, '127.0.0.1'));
      const [socket] = (await accepted) as [Socket];
      const service = new FaultService(new FramedSocket(socket), memory, map, PageChecksums.create(PAGES), requests);
      const running = service.run();
      const frame = await source.receive(5_000, 'PageRequest');
      expect(frame.type).toBe(FrameType.PageRequest);
      expect(frame.type === FrameType.PageRequest && [...frame.message.pages].sort((a, b) => a - b)).toEqual([2, 40]);

      const writer = new PageBatchWriter();
      writer.add(2, new Uint8Array(PAGE_SIZE));
      writer.add(40, new Uint8Array(PAGE_SIZE));
      await source.send(writer.takeFrame());
      await guest.finished;
      expect(map.complete).toBe(true);
      expect(service.pagesPlaced).toBe(2);
      await running;
      source.destroy();
    } finally {
      await guest.stop();
      server.close();
    }
  });
});
