import { connect as netConnect, type Socket } from 'node:net';
import { ConnectError } from '@livemig/protocol';
import type { HostPort } from '../units.js';
import { secureClient, type TransportSecurity } from './transport-security.js';

/**
 * Opens a connection to `target`, secured as `security` says (TLS 1.3, mutually authenticated, or plain TCP):
 * every connection an agent opens goes through here, so none can skip the agent's credentials.
 * @throws ConnectError (LM_ERR_CONNECT) naming the target and the cause; AuthError (LM_ERR_AUTH) when the TLS
 *   handshake fails or the peer is not the one allowed
 */
export async function connectTcp(target: HostPort, timeoutMs: number, security: TransportSecurity): Promise<Socket> {
  const started = performance.now();
  const socket = await new Promise<Socket>((resolve, reject) => {
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
  return secureClient(socket, target, security, Math.max(1, timeoutMs - (performance.now() - started)));
}
