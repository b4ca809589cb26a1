// The npm `lz4` package (CommonJS, native binding) ships no types; only the block API is used here.
declare module 'lz4' {
  interface Lz4 {
    /** Worst-case compressed size of `inputLength` bytes. */
    encodeBound(inputLength: number): number;
    /** Compresses `input` into `output` (at least encodeBound bytes); returns the compressed size, 0 if incompressible. */
    encodeBlock(input: Buffer, output: Buffer): number;
    /** Inflates into `output` (bounds-checked); returns bytes written, negative on malformed input or too small output. */
    decodeBlock(input: Buffer, output: Buffer): number;
  }
  const lz4: Lz4;
  export = lz4;
}
