import { createHash } from 'node:crypto';
import { commitNonce } from './commit-messages.js';
import { ZERO_PAGE_CRC } from './crc32-combine.js';
import { BadArgumentError, MigrationError } from './errors.js';

/** Starts every commit proof, so that no other SHA-256 of the project can be passed off as one. */
const PROOF_TAG = Buffer.from('livemig commit proof', 'ascii');

/**
 * The image digest both sides compute to verify a migration before commit, without hashing the whole image
 * while the guest is parked: a CRC32 per page, recorded when the source sends a page and when the destination
 * applies it, and a SHA-256 over the table and the CPU state at the end.
 *
 * Invariant: a page whose content changed after its CRC was taken at the source was dirtied again, so it is
 * sent again (with a fresh CRC) in a later round or in stop-and-copy, when the vCPUs are parked. At Complete
 * the source's table therefore describes the parked image, and equal digests mean every page the destination
 * holds is the one the source sent last. Pages never sent are zero on both sides (their entry stays the zero
 * page's CRC). The deterministic oracle, not this digest, guards the engine against losing a dirty page.
 *
 * The table lives in a SharedArrayBuffer so that channel workers record the pages they carry; channels own
 * disjoint pages, so no entry has two writers. The CRCs come from the page codecs, which take them while they
 * encode or apply a page (PageBatchWriter.pageCrc, readPageBatch's onPage).
 */
export class PageChecksums {
  readonly buffer: SharedArrayBuffer;
  private readonly table: Uint32Array;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.table = new Uint32Array(buffer);
  }

  static create(pageCount: number): PageChecksums {
    const checksums = new PageChecksums(new SharedArrayBuffer(pageCount * 4));
    checksums.table.fill(ZERO_PAGE_CRC);
    return checksums;
  }

  static attach(buffer: SharedArrayBuffer): PageChecksums {
    return new PageChecksums(buffer);
  }

  record(index: number, pageCrc: number): void {
    this.table[index] = pageCrc;
  }

  get pageCount(): number {
    return this.table.length;
  }

  /** A copy of the entries of pages `first .. first + count - 1` (repair at commit: RepairTable). */
  slice(first: number, count: number): Uint32Array {
    return this.table.slice(first, first + count);
  }

  /** Appends to `into` each page `first + i` whose entry here is not `entries[i]` (the peer's, from RepairTable). */
  collectDiffering(first: number, entries: Uint32Array, into: number[]): void {
    const table = this.table;
    for (let i = 0; i < entries.length; i++) if (table[first + i] !== entries[i]) into.push(first + i);
  }

  /** Hex SHA-256 of the per-page table and every register file. */
  digest(cpuState: readonly Uint8Array[]): string {
    const hash = createHash('sha256');
    hash.update(this.tableBytes());
    for (const registers of cpuState) hash.update(registers);
    return hash.digest('hex');
  }

  /**
   * Committed's proof: hex SHA-256 of "livemig commit proof", the 16 bytes of Complete's nonce, the per-page
   * table and every register file. The nonce comes first, so the proof cannot be derived from the digest (which
   * Complete carries) by extending its hash: a peer must hold the table itself. The source computes the same
   * over its own table; equal proofs mean the destination holds the table the source sent, for this migration.
   * @throws BadArgumentError when `nonce` is not 32 lowercase hex characters.
   */
  proof(nonce: string, cpuState: readonly Uint8Array[]): string {
    try {
      commitNonce(nonce, 'nonce');
    } catch (error) {
      throw new BadArgumentError((error as MigrationError).message, { cause: error });
    }
    const hash = createHash('sha256');
    hash.update(PROOF_TAG);
    hash.update(Buffer.from(nonce, 'hex'));
    hash.update(this.tableBytes());
    for (const registers of cpuState) hash.update(registers);
    return hash.digest('hex');
  }

  /** The table's bytes in the host's order (little-endian on every host Node runs on here), as both hashes read them. */
  private tableBytes(): Uint8Array {
    return new Uint8Array(this.table.buffer, this.table.byteOffset, this.table.byteLength);
  }
}
