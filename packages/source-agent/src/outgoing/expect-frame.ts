import { UnexpectedFrameError, frameTypeName, type Frame } from '@livemig/protocol';

/** @throws UnexpectedFrameError unless `frame` is of `type` (naming the phase it arrived in) */
export function expectFrame<T extends Frame['type']>(
  frame: Frame,
  type: T,
  phase: string,
): asserts frame is Extract<Frame, { type: T }> {
  if (frame.type !== type) {
    throw new UnexpectedFrameError(
      `expected ${frameTypeName(type)} during ${phase}, got ${frameTypeName(frame.type)}`,
    );
  }
}
