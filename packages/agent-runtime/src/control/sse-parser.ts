export interface ServerSentEvent {
  /** The `event:` field, or "message" when the event had none. */
  event: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last `id:` seen on the stream so far (it carries over to later events), if any. */
  id?: string;
}

/**
 * Incremental parser for the text/event-stream format (WHATWG HTML, "Server-sent events" / "Event stream
 * interpretation"). Feed decoded text in chunks of any size; lines end in CRLF, LF or CR; lines starting with
 * ":" are comments; one leading space after the colon is dropped; an event is dispatched at a blank line and
 * only if it had a `data` field; a stream that ends mid-event drops that event.
 */
export class SseParser {
  private buffer = '';
  /** The previous chunk ended in CR: a LF at the start of the next one belongs to that line end. */
  private pendingCr = false;
  private eventType = '';
  private data: string[] = [];
  private lastId = '';

  push(chunk: string): ServerSentEvent[] {
    let text = chunk;
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const events: ServerSentEvent[] = [];
    let start = 0;
    for (;;) {
      const end = findLineEnd(this.buffer, start);
      if (end === -1) break;
      const line = this.buffer.slice(start, end);
      if (this.buffer[end] === '\r') {
        if (end + 1 === this.buffer.length) {
          this.pendingCr = true;
          start = end + 1;
        } else {
          start = this.buffer[end + 1] === '\n' ? end + 2 : end + 1;
        }
      } else {
        start = end + 1;
      }
      const event = this.line(line);
      if (event !== undefined) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  private line(line: string): ServerSentEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
        // `retry` and unknown fields: this client does not reconnect on its own.
        break;
    }
    return undefined;
  }

  private dispatch(): ServerSentEvent | undefined {
    const hadData = this.data.length > 0;
    const event: ServerSentEvent = { event: this.eventType === '' ? 'message' : this.eventType, data: this.data.join('\n') };
    if (this.lastId !== '') event.id = this.lastId;
    this.eventType = '';
    this.data = [];
    return hadData ? event : undefined;
  }
}

function findLineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) return i;
  }
  return -1;
}
