import { FrameDecoder, MigrationError } from '@livemig/protocol';

/**
 * The typed error a fresh decoder throws on `bytes` (fed whole, then ended).
 * @throws Error when the bytes decode without one, or when what is thrown is not a MigrationError
 */
export function decodeError(bytes: Buffer, options?: { maxPayloadBytes?: number }): MigrationError {
  const decoder = new FrameDecoder(options);
  try {
    decoder.push(bytes);
    decoder.end();
  } catch (error) {
    if (!(error instanceof MigrationError)) throw new Error(`expected a MigrationError, got ${String(error)}`);
    return error;
  }
  throw new Error('decoded without an error');
}
