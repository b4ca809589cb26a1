// The CPU floor of moving an image over loopback TCP as the agents do, without any of their work: one process
// writes SIZE bytes of a SharedArrayBuffer in 256 KiB views (a gathered write, as a source's direct batches go),
// another reads them with Node's `onread` straight into a pre-touched SharedArrayBuffer (as a destination's owned
// reads place raw runs). Each side prints the CPU it used from the first byte to the last (process.cpuUsage: user
// and system, every thread), per GiB. What is left is the kernel's two copies, its TCP work and libuv's reads and
// writes: no page check, no entries, no frames (docs/PERFORMANCE.md, "Where the CPU goes per side").
//
//   node bench/scripts/tcp-push-cpu.mjs [SIZE_MIB] [reps]
import { spawn } from 'node:child_process';
import { Socket, connect, createServer } from 'node:net';

const CHUNK = 256 * 1024;
const GIB = 1024 ** 3;
const [role, arg] = process.argv.slice(2);

const cpuMs = (start) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

if (role === 'receive') {
  const bytes = Number(arg);
  const memory = new Uint8Array(new SharedArrayBuffer(bytes)).fill(1);
  const spare = Buffer.alloc(1); // where a read after the last byte (the end of the stream) goes
  let filled = 0;
  let start;
  const server = createServer({ pauseOnConnect: true }, (accepted) => {
    // A socket of our own over the accepted (unread) handle, so that reads go where `onread` says; the accepted
    // one is never used again (agent-runtime owned-reads.ts does the same).
    const socket = new Socket({
      handle: accepted._handle,
      onread: {
        buffer: () => (filled < bytes ? Buffer.from(memory.buffer, filled, Math.min(CHUNK, bytes - filled)) : spare),
        callback: (n) => {
          start ??= process.cpuUsage();
          filled += n;
          if (filled >= bytes) {
            process.stdout.write(`${JSON.stringify({ side: 'receive', cpuSecPerGiB: cpuMs(start) / 1000 / (bytes / GIB) })}\n`);
            socket.destroy();
            server.close();
          }
          return true;
        },
      },
    });
    socket.resume();
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${server.address().port}\n`));
} else if (role === 'send') {
  const [port, bytes] = [Number(arg), Number(process.argv[4])];
  const memory = Buffer.from(new SharedArrayBuffer(bytes)).fill(7);
  const socket = connect(port, '127.0.0.1', async () => {
    const start = process.cpuUsage();
    for (let at = 0; at < bytes; at += CHUNK) {
      if (!socket.write(memory.subarray(at, Math.min(at + CHUNK, bytes)))) await new Promise((resolve) => socket.once('drain', resolve));
    }
    socket.end(() => {
      process.stdout.write(`${JSON.stringify({ side: 'send', cpuSecPerGiB: cpuMs(start) / 1000 / (bytes / GIB) })}\n`);
    });
  });
} else {
  const bytes = Number(role ?? 1024) * 1024 * 1024;
  const reps = Number(arg ?? 3);
  const self = new URL(import.meta.url).pathname;
  for (let r = 0; r < reps; r++) {
    const receiver = spawn(process.execPath, [self, 'receive', String(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = [];
    let sender;
    await new Promise((resolve) => {
      let pending = '';
      receiver.stdout.on('data', (chunk) => {
        pending += chunk;
        for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line.startsWith('port ')) {
            sender = spawn(process.execPath, [self, 'send', line.slice(5), String(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
            sender.stdout.on('data', (out) => lines.push(String(out).trim()));
          } else lines.push(line);
        }
      });
      receiver.on('exit', resolve);
    });
    await new Promise((resolve) => (sender.exitCode === null ? sender.on('exit', resolve) : resolve()));
    process.stdout.write(`${lines.join(' ')}\n`);
  }
}
