/**
 * A Buffer and a Uint32Array over the whole memory behind some Uint8Array, remembered for the last memory
 * seen: pages of one guest slot then cost no allocation at all.
 */
export class MemoryViews {
  #memory: ArrayBufferLike | undefined;
  bytes: Buffer = Buffer.alloc(0);
  words: Uint32Array | undefined;

  /** Views over the memory of `view`; returns the byte offset of `view[offset]` in them. */
  of(view: Uint8Array, offset: number): number {
    if (view.buffer !== this.#memory) {
      const memory = view.buffer;
      this.#memory = memory;
      this.bytes = Buffer.from(memory);
      this.words = new Uint32Array(memory, 0, memory.byteLength >>> 2);
    }
    return view.byteOffset + offset;
  }
}
