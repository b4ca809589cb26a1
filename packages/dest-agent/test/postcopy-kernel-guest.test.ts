import { describe, expect, it } from 'vitest';
import { CAPABILITIES, CAPABILITY_POSTCOPY, PAGE_SIZE, PROTOCOL_VERSION, type HelloMessage } from '@livemig/protocol';
import { parseWorkloadSpec } from '@livemig/guest';
import { checkGuestDisk } from '../dist/incoming/handshake.js';

// The guest kernel (fileserver) reads its pages without post-copy's access barrier, so a destination refuses
// post-copy for it whatever the source offers: a missing page would read as zeros and could be written back
// to the shared disk.
function helloFor(capabilities: string[]): HelloMessage {
  return {
    protocolVersion: PROTOCOL_VERSION,
    capabilities,
    guestId: 'g',
    migrationId: 'm',
    geometry: { pageSize: PAGE_SIZE, memoryBytes: 64 * 1024 * 1024, slotBytes: 64 * 1024 * 1024, vcpus: 1 },
    workload: { name: 'fileserver', seed: 1, ops: 0, params: {} },
    channels: 1,
  };
}

describe('a fileserver guest offered in post-copy', () => {
  const workload = parseWorkloadSpec({ name: 'fileserver', seed: 1, ops: 0, params: {} });

  it('is refused at the handshake with LM_ERR_HANDSHAKE', () => {
    const refusal = checkGuestDisk(helloFor([...CAPABILITIES, CAPABILITY_POSTCOPY]), workload, '/nonexistent/disk');
    expect(refusal?.code).toBe('LM_ERR_HANDSHAKE');
    expect(refusal?.message).toMatch(/post-copy offered for a fileserver guest/);
  });

  it('without post-copy, goes on to the disk check', () => {
    const refusal = checkGuestDisk(helloFor([...CAPABILITIES]), workload, undefined);
    expect(refusal?.message ?? '').not.toMatch(/post-copy/);
  });
});
