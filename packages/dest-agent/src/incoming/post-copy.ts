import {
  BadMessageError,
  FrameType,
  UnexpectedFrameError,
  checkPageIndices,
  encodePostcopyDone,
  frameTypeName,
  readPageBatch,
  requirePlainBatch,
  type Frame,
  type GuestGeometry,
} from '@livemig/protocol';
import type { CpuState, Guest, PresentMap, PresentStats } from '@livemig/guest';
import type { FramedSocket } from '@livemig/agent-runtime';
import type { ChannelReceivers } from '../channel-receivers.js';
import type { FaultRequests } from '../postcopy/fault-requests.js';
import { PlacingSink } from '../postcopy/placing-sink.js';
import { FaultService } from '../postcopy/urgent-connection.js';
import type { IncomingImage } from './reservation.js';
import { checkedCpuState, type ReceivedState } from './stop-and-copy.js';

/** What the source sent up to the switch: the pages this side lacks, the CPU state, the pre-copy rounds. */
export interface PostcopySwitch {
  missing: Uint32Array;
  cpuState: CpuState;
  running: boolean;
  rounds: number;
}

/** The destination's figures of a post-copy migration (QEMU's definitions; times in ms). */
export interface PostcopyDestReport {
  missingAtSwitch: number;
  faults: number;
  pagesRequested: number;
  pagesAnsweredPlaced: number;
  vcpuFaults: number[];
  vcpuBlocktimeMs: number[];
  /** Time every vCPU was blocked at once (QEMU's postcopy-blocktime). */
  blocktimeMs: number;
  /** Fault latency histogram: bucket b counts faults that took [2^b, 2^(b+1)) microseconds. */
  latencyBuckets: number[];
  /** Times post-copy paused here (a connection lost after the switch), and times it recovered. */
  pauses: number;
  recoveries: number;
}

/**
 * Reads the control connection of a migration that may switch to post-copy, up to PostcopyRun: PostcopyDiscard
 * frames (pages checked against the guest before they are kept, and counted against the guest's size),
 * CpuState (checked against the geometry), then PostcopyRun, whose count must match. A hybrid migration may
 * also end as pre-copy does: CpuState, then Complete (no discard list): that is returned as a ReceivedState.
 * @throws BadMessageError, PageIndexOutOfRangeError, UnexpectedFrameError; a channel's or the connection's error
 */
export async function receiveSwitch(
  conn: FramedSocket,
  channels: ChannelReceivers,
  geometry: GuestGeometry,
  pageCount: number,
): Promise<PostcopySwitch | ReceivedState> {
  const lists: Uint32Array[] = [];
  let discarded = 0;
  let state: { cpuState: CpuState; running: boolean } | undefined;
  for (;;) {
    const frame = await Promise.race([conn.receive(undefined, 'PostcopyDiscard, CpuState or PostcopyRun'), channels.failed]);
    switch (frame.type) {
      case FrameType.PostcopyDiscard:
        checkPageIndices(frame.message.pages, pageCount);
        discarded += frame.message.pages.length;
        if (discarded > pageCount) throw new BadMessageError(`discard lists name ${discarded} pages, the guest has ${pageCount}`);
        lists.push(frame.message.pages);
        break;
      case FrameType.CpuState:
        state = checkedCpuState(frame.message, geometry, pageCount);
        break;
      case FrameType.Complete:
        if (!state || lists.length > 0) throw new UnexpectedFrameError('Complete without the CPU state, or after a discard list');
        return { ...state, complete: frame.message };
      case FrameType.PostcopyRun: {
        if (!state) throw new UnexpectedFrameError('PostcopyRun before the CPU state');
        if (frame.message.discarded !== discarded) {
          throw new BadMessageError(`PostcopyRun counts ${frame.message.discarded} discarded pages, ${discarded} arrived`);
        }
        const missing = new Uint32Array(discarded);
        let at = 0;
        for (const list of lists) {
          missing.set(list, at);
          at += list.length;
        }
        return { missing, ...state, rounds: frame.message.rounds };
      }
      default:
        throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} on the control connection before the switch`);
    }
  }
}

/** Where post-copy runs: the control and urgent connections, and what carries the push. */
export interface PostcopyLinks {
  control: FramedSocket;
  urgent: FramedSocket;
  /** `channels`: the data channels, as at the switch; `control`: the recovered control connection. */
  push: 'channels' | 'control';
}

/** What the destination keeps across pauses: the fault requests (re-asked after a recovery) and the counts. */
export interface PostcopyProgress {
  requests: FaultRequests;
  /** Requested pages placed from the urgent connections so far. */
  answeredPlaced: number;
  pauses: number;
  recoveries: number;
}

/**
 * After the switch: the guest runs here (started by the caller). Serves its faults over the urgent connection
 * while the push fills in the rest (on the data channels, or after a recovery on the control connection); once
 * every page is present and the source's PostcopyEnd is read, sends PostcopyDone.
 * @throws the urgent connection's, a channel's or the control connection's error (the guest keeps running on
 *   the pages it has; vCPUs that touch a missing one wait; the caller pauses)
 */
export async function servePostcopy(links: PostcopyLinks, image: IncomingImage, present: PresentMap, progress: PostcopyProgress): Promise<void> {
  const { control } = links;
  const service = new FaultService(links.urgent, image.memory, present, image.checksums, progress.requests);
  const serving = service.run();
  const channelFailure = links.push === 'channels' ? image.channels.failed : new Promise<never>(() => {});
  const failed = Promise.race([serving.then(() => new Promise<never>(() => {})), channelFailure]);
  failed.catch(() => {});
  const end = links.push === 'control' ? placeUntilEnd(control, new PlacingSink(image.memory, present, (index, crc) => image.checksums.record(index, crc))) : control.receive(undefined, 'PostcopyEnd');
  end.catch(() => {});
  try {
    await Promise.race([present.untilComplete(), failed, end.then(() => new Promise<never>(() => {}))]);
    const frame = await Promise.race([end, failed]);
    if (frame.type !== FrameType.PostcopyEnd) throw new UnexpectedFrameError(`unexpected ${frameTypeName(frame.type)} instead of PostcopyEnd`);
    await control.send(encodePostcopyDone({ presentPages: present.presentCount() }));
  } finally {
    service.stop();
    progress.answeredPlaced += service.pagesPlaced;
  }
}

/** After a recovery the push comes on the control connection: its pages are placed (only if absent) until PostcopyEnd. */
async function placeUntilEnd(control: FramedSocket, sink: PlacingSink): Promise<Frame> {
  for (;;) {
    const frame = await control.receive(undefined, 'PageBatch or PostcopyEnd');
    if (frame.type !== FrameType.PageBatch) return frame;
    requirePlainBatch(frame, 'in the post-copy push');
    readPageBatch(frame.payload, sink, sink.onPage, frame.rawPageCrcs);
    control.release(frame);
  }
}

/** The destination's figures once post-copy is over. */
export function postcopyReport(present: PresentMap, missingAtSwitch: number, progress: PostcopyProgress): PostcopyDestReport {
  return { ...figures(present.stats(), missingAtSwitch, progress.requests.pagesRequested, progress.answeredPlaced), pauses: progress.pauses, recoveries: progress.recoveries };
}

function figures(stats: PresentStats, missingAtSwitch: number, pagesRequested: number, placed: number): Omit<PostcopyDestReport, 'pauses' | 'recoveries'> {
  const ms = (us: number): number => Math.round(us / 100) / 10;
  return {
    missingAtSwitch,
    faults: stats.faults,
    pagesRequested,
    pagesAnsweredPlaced: placed,
    vcpuFaults: stats.vcpuFaults,
    vcpuBlocktimeMs: stats.vcpuBlockedUs.map(ms),
    blocktimeMs: ms(stats.guestBlockedUs),
    latencyBuckets: stats.latencyBuckets,
  };
}

/** Starts the switched guest here: the pages it lacks become missing, its vCPUs continue from the CPU state. */
export async function activatePostcopy(vcpus: Promise<Guest>, present: PresentMap, received: PostcopySwitch): Promise<{ guest: Guest; activationMs: number }> {
  const start = performance.now();
  const guest = await vcpus;
  present.startPostcopy(received.missing);
  guest.loadCpuState(received.cpuState);
  if (received.running) guest.resume();
  return { guest, activationMs: Math.round((performance.now() - start) * 10) / 10 };
}
