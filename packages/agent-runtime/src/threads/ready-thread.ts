import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker thread that has loaded its code: its first message (its greeting) said so, and it now waits for
 * its owner's first command. Starting a thread that loads the protocol costs tens of milliseconds, ~100 ms
 * while a migration keeps the cores busy, so the agents spawn their threads ahead of need and hand them out
 * ready.
 *
 * Until an owner adopts it, the thread is watched here: an error or an exit in that time is kept and handed to
 * the owner by adopt(), so it surfaces when the thread is taken instead of being lost (and an uncaught error
 * of a thread nobody watches does not throw in this thread). Between its greeting and its owner's first
 * command a thread posts nothing: no message is lost while no owner listens.
 */
export class ReadyThread<Greeting = unknown> {
  #failure: Error | undefined;
  readonly #unwatch: () => void;

  constructor(
    readonly worker: Worker,
    /** The thread's first message. */
    readonly greeting: Greeting,
  ) {
    const onError = (error: Error): void => {
      this.#failure ??= error;
    };
    const onExit = (code: number): void => {
      this.#failure ??= new Error(`worker thread exited with code ${code} before it was taken`);
    };
    worker.on('error', onError).on('exit', onExit);
    this.#unwatch = () => void worker.off('error', onError).off('exit', onExit);
  }

  /** The error or exit the thread had since its greeting, if any: it has ended then. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /**
   * Hands the thread to an owner, which watches it from now on: listeners it adds in the same turn miss no
   * event. Returns the failure the thread had while it waited, if any, for the owner to surface.
   */
  adopt(): Error | undefined {
    this.#unwatch();
    return this.#failure;
  }
}

/** A thread that was just created, and its readiness. */
export interface StartedThread<Greeting> {
  worker: Worker;
  ready: Promise<ReadyThread<Greeting>>;
}

/**
 * Creates a worker thread from `script` and watches it until its greeting. `ready` rejects with the thread's
 * error, or with an Error if it exits before it greets.
 */
export function startThread<Greeting>(script: URL, options: WorkerOptions = {}): StartedThread<Greeting> {
  const worker = new Worker(script, options);
  const ready = new Promise<ReadyThread<Greeting>>((resolve, reject) => {
    const onGreeting = (greeting: Greeting): void => {
      // The ready thread watches from here, in the same turn: no event falls between the two.
      const thread = new ReadyThread(worker, greeting);
      worker.off('error', onError).off('exit', onExit);
      resolve(thread);
    };
    const onError = (error: Error): void => {
      worker.off('message', onGreeting).off('exit', onExit);
      reject(error);
    };
    const onExit = (code: number): void => {
      worker.off('message', onGreeting).off('error', onError);
      reject(new Error(`worker thread exited with code ${code} before it was ready`));
    };
    worker.once('message', onGreeting).once('error', onError).once('exit', onExit);
  });
  return { worker, ready };
}

/**
 * Spawns `count` threads from `script` at once; resolves once every one has greeted.
 * @throws the first thread's error (or an Error for one that exited before it greeted); every thread of the
 *   call is terminated then
 */
export async function spawnThreads<Greeting = unknown>(script: URL, count: number, options: WorkerOptions = {}): Promise<ReadyThread<Greeting>[]> {
  const started = Array.from({ length: count }, () => startThread<Greeting>(script, options));
  try {
    // Promise.all also handles the rejections that come after the first.
    return await Promise.all(started.map(({ ready }) => ready));
  } catch (error) {
    for (const { worker } of started) void worker.terminate();
    throw error;
  }
}
