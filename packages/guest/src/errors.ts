/**
 * Stable error codes of the guest package; callers switch on `code`, never on the message. One class
 * (GuestError) carries them all; docs/ERRORS.md says what each means to an operator.
 */
export const GuestErrorCode = {
  /** Unknown workload name, or a parameter that is missing, unknown or out of range. */
  BAD_WORKLOAD: 'LM_ERR_BAD_WORKLOAD',
  /** Memory or slot size not a positive multiple of the page size, too large, or fewer pages than vCPUs. */
  BAD_GEOMETRY: 'LM_ERR_BAD_GEOMETRY',
  /** A register file that this guest could not have produced (wrong count, size, partition, counters). */
  BAD_CPU_STATE: 'LM_ERR_BAD_CPU_STATE',
  /** A vCPU worker threw or exited without being asked to. */
  VCPU_CRASHED: 'LM_ERR_VCPU_CRASHED',
  /** The operation needs every vCPU at a safe point (parked, finished or stopped). */
  NOT_PARKED: 'LM_ERR_NOT_PARKED',
  /** The virtual disk cannot be opened, is too small, or disagrees with the kernel's write-back record. */
  DISK: 'LM_ERR_DISK',
  /** A soft-page hint area the host cannot trust: bad header, bitmap out of place, bits beyond the partition. */
  BAD_HINT: 'LM_ERR_BAD_HINT',
  /**
   * An argument outside its documented domain (e.g. a throttle percent not an integer in 0..99). The code is
   * owned by @livemig/protocol (BadArgumentError): this package depends on nothing of ours, so it carries the
   * same string, and callers treat both alike (the control API answers 400, the CLI exits 2).
   */
  BAD_ARGUMENT: 'LM_ERR_BAD_ARGUMENT',
} as const;

export type GuestErrorCodeValue = (typeof GuestErrorCode)[keyof typeof GuestErrorCode];

/** The message of a GuestError thrown without one. */
const DEFAULT_MESSAGES: Readonly<Record<GuestErrorCodeValue, string>> = {
  LM_ERR_BAD_WORKLOAD: 'bad workload',
  LM_ERR_BAD_GEOMETRY: 'bad guest geometry',
  LM_ERR_BAD_CPU_STATE: 'bad CPU state',
  LM_ERR_VCPU_CRASHED: 'a vCPU crashed',
  LM_ERR_NOT_PARKED: 'the guest is not parked',
  LM_ERR_DISK: 'virtual disk unusable',
  LM_ERR_BAD_HINT: 'bad soft-page hint',
  LM_ERR_BAD_ARGUMENT: 'bad argument',
};

/** The codes this package owns: every GuestErrorCode but BAD_ARGUMENT, which protocol owns. */
export const GUEST_ERROR_CODES: readonly GuestErrorCodeValue[] = Object.freeze(
  Object.values(GuestErrorCode).filter((code) => code !== GuestErrorCode.BAD_ARGUMENT),
);

export class GuestError extends Error {
  override readonly name = 'GuestError';
  readonly code: string;

  constructor(code: GuestErrorCodeValue, message: string = DEFAULT_MESSAGES[code], options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
