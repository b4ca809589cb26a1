import {
  CAPABILITY_POSTCOPY,
  FrameType,
  HandshakeError,
  MigrationError,
  OPTIONAL_CAPABILITIES,
  PROTOCOL_VERSION,
  REQUIRED_CAPABILITIES,
  UnexpectedFrameError,
  encodeRefuse,
  frameTypeName,
  type Frame,
  type HelloMessage,
} from '@livemig/protocol';
import { checkKernelFits, MAX_VCPUS, PAGE_SIZE, parseWorkloadSpec, type WorkloadName, type WorkloadSpec } from '@livemig/guest';
import type { FramedSocket } from '@livemig/agent-runtime';

/** How long a source may take to send Hello after connecting. */
export const HELLO_TIMEOUT_MS = 30_000;

/**
 * The handshake: the first frame on the control connection, which must be Hello (the agent read it already, to
 * tell a migration from an outcome connection: see dest-agent.ts).
 * @throws TimeoutError when no frame came in time; UnexpectedFrameError when the first frame is not Hello; the
 *   connection's error when it failed first.
 */
export async function readHello(firstFrame: Promise<Frame>): Promise<HelloMessage> {
  const first = await firstFrame;
  if (first.type !== FrameType.Hello) {
    throw new UnexpectedFrameError(`expected Hello to open the migration, got ${frameTypeName(first.type)}`);
  }
  return first.message;
}

/**
 * The refusal a Hello earns, or the workload it describes, parsed: the protocol version (the peer was
 * authenticated before its first frame was read: see secureServer), the required capabilities, the vCPU count this agent can run and the workload.
 */
export function checkHello(hello: HelloMessage): MigrationError | WorkloadSpec {
  if (hello.protocolVersion !== PROTOCOL_VERSION) {
    return new HandshakeError(`source speaks protocol version ${hello.protocolVersion}, this agent ${PROTOCOL_VERSION}`);
  }
  for (const capability of REQUIRED_CAPABILITIES) {
    if (!hello.capabilities.includes(capability)) return new HandshakeError(`source lacks capability ${capability}`);
  }
  // The decoder already holds page size, channels (1..16) and vCPUs (1..256) to the protocol's limits. A guest
  // runs fewer vCPUs than the protocol allows: refused here, before anything is reserved, not at activation.
  if (hello.geometry.vcpus > MAX_VCPUS) {
    return new HandshakeError(`guest has ${hello.geometry.vcpus} vCPUs; this agent runs 1..${MAX_VCPUS}`);
  }
  try {
    return parseWorkloadSpec({ ...hello.workload, name: hello.workload.name as WorkloadName });
  } catch (error) {
    return new HandshakeError(`workload rejected: ${(error as Error).message}`);
  }
}

/**
 * The refusal a guest that needs a disk earns when this agent has none, or a different one (too small,
 * unreadable), or a kernel that does not fit: refused here, not at activation.
 */
export function checkGuestDisk(hello: HelloMessage, workload: WorkloadSpec, disk: string | undefined): MigrationError | undefined {
  if (workload.name !== 'fileserver') return undefined;
  if (hello.capabilities.includes(CAPABILITY_POSTCOPY)) {
    // The guest kernel reads its pages without post-copy's access barrier: it would read missing pages as zeros.
    return new HandshakeError('post-copy offered for a fileserver guest, whose kernel does not check for missing pages');
  }
  try {
    checkKernelFits(workload, hello.geometry.vcpus, hello.geometry.memoryBytes / PAGE_SIZE, disk);
    return undefined;
  } catch (error) {
    return new HandshakeError(`guest disk: ${(error as Error).message}`);
  }
}

/** What Accept agrees to: the capabilities checkHello requires, and the optional ones the source offered. */
export function agreedCapabilities(hello: HelloMessage): string[] {
  // Post-copy is offered only by a source that means to use it (it costs this side an urgent port).
  const optional = [...OPTIONAL_CAPABILITIES, CAPABILITY_POSTCOPY].filter((capability) => hello.capabilities.includes(capability));
  return [...REQUIRED_CAPABILITIES, ...optional];
}

/**
 * The answer to a Hello this agent will not serve: Refuse with the refusal's code, then the connection ends
 * (gracefully, so the Refuse arrives; an Abort after it is never written).
 * @throws the connection's error when Refuse cannot be sent.
 */
export async function sendRefuse(conn: FramedSocket, refusal: MigrationError): Promise<void> {
  await conn.send(encodeRefuse({ code: refusal.code, message: refusal.message }));
  conn.close();
}
