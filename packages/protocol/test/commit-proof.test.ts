import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { COMMIT_NONCE_BYTES, PageChecksums, ZERO_PAGE_CRC, newCommitNonce } from '@livemig/protocol';
import { crc32 } from './helpers.js';

const NONCE = '000102030405060708090a0b0c0d0e0f';
const REGISTERS = [Uint8Array.from([1, 2, 3]), Uint8Array.from([4, 5])];

/** The table as the hashes read it, built here: one little-endian u32 CRC per page. */
function tableBytes(crcs: number[]): Buffer {
  const out = Buffer.alloc(crcs.length * 4);
  crcs.forEach((crc, i) => out.writeUInt32LE(crc, i * 4));
  return out;
}

function checksumsOf(crcs: number[]): PageChecksums {
  const checksums = PageChecksums.create(crcs.length);
  crcs.forEach((crc, i) => checksums.record(i, crc));
  return checksums;
}

describe("Committed's proof", () => {
  const pageCrc = crc32(new Uint8Array(4096).fill(7));
  const crcs = [ZERO_PAGE_CRC, pageCrc, ZERO_PAGE_CRC];

  it('is SHA-256 of the tag, the nonce bytes, the table and the register files', () => {
    const expected = createHash('sha256')
      .update('livemig commit proof')
      .update(Buffer.from(NONCE, 'hex'))
      .update(tableBytes(crcs))
      .update(Buffer.from([1, 2, 3, 4, 5]))
      .digest('hex');
    expect(checksumsOf(crcs).proof(NONCE, REGISTERS)).toBe(expected);
  });

  it('is not the digest, so echoing the digest Complete carried fails', () => {
    const checksums = checksumsOf(crcs);
    expect(checksums.proof(NONCE, REGISTERS)).not.toBe(checksums.digest(REGISTERS));
  });

  it('changes with the nonce, with any page CRC and with the CPU state', () => {
    const proof = checksumsOf(crcs).proof(NONCE, REGISTERS);
    expect(checksumsOf(crcs).proof('f'.repeat(32), REGISTERS)).not.toBe(proof);
    expect(checksumsOf([ZERO_PAGE_CRC, pageCrc ^ 1, ZERO_PAGE_CRC]).proof(NONCE, REGISTERS)).not.toBe(proof);
    expect(checksumsOf(crcs).proof(NONCE, [Uint8Array.from([1, 2, 3]), Uint8Array.from([4, 6])])).not.toBe(proof);
    // Two tables that record the same pages give the same proof: it speaks of the table, not of who built it.
    expect(checksumsOf(crcs).proof(NONCE, REGISTERS)).toBe(proof);
  });

  it('refuses a nonce that is not 32 lowercase hex characters with LM_ERR_BAD_ARGUMENT', () => {
    const checksums = checksumsOf(crcs);
    for (const nonce of ['', 'ab', NONCE.toUpperCase(), `${NONCE}00`]) {
      expect(() => checksums.proof(nonce, REGISTERS)).toThrow(expect.objectContaining({ code: 'LM_ERR_BAD_ARGUMENT' }));
    }
  });
});

describe('newCommitNonce', () => {
  it('gives 16 random bytes as lowercase hex, fresh each time', () => {
    const nonces = new Set(Array.from({ length: 100 }, () => newCommitNonce()));
    expect(nonces.size).toBe(100);
    for (const nonce of nonces) expect(nonce).toMatch(new RegExp(`^[0-9a-f]{${COMMIT_NONCE_BYTES * 2}}$`));
  });
});
