import { connect as netConnect, type Socket } from 'node:net';
import { ConnectError } from '@livemig/protocol';
import type { HostPort } from '../units.js';

/** Opens a TCP connection or fails with LM_ERR_CONNECT naming the target and the cause. */
export function connectTcp(target: HostPort, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectError(`cannot connect to ${target.host}:${target.port}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new ConnectError(`cannot connect to ${target.host}:${target.port}: ${error.code ?? error.message}`, { cause: error }));
    });
  });
}
