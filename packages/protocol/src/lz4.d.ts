// The npm `lz4` package (CommonJS, native binding) ships no types; only the block API is used here.
// The binding accepts any Uint8Array (Node's Buffer::HasInstance is true for every ArrayBufferView).
// Its optional indices are NOT bounds-checked by the binding: callers must keep them inside the buffer.
declare module 'lz4' {
  interface Lz4 {
    /** Worst-case compressed size of `inputLength` bytes. */
    encodeBound(inputLength: number): number;
    /**
     * Compresses all of `input` into `output[start, end)` (default: all of `output`); returns the compressed
     * size, 0 when it does not fit (or, with end - start >= encodeBound, when the input is incompressible).
     */
    encodeBlock(input: Uint8Array, output: Uint8Array, start?: number, end?: number): number;
    /**
     * Inflates `input[start, end)` (default: all of it) into `output`, bounds-checked against output's length;
     * returns bytes written, negative on malformed input or too small output.
     */
    decodeBlock(input: Uint8Array, output: Uint8Array, start?: number, end?: number): number;
  }
  const lz4: Lz4;
  export = lz4;
}
