/** Stable error codes of the guest package; callers switch on `code`, never on the message. */
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
  /** An argument outside its documented domain (e.g. a throttle percent not an integer in 0..99). */
  BAD_ARGUMENT: 'LM_ERR_BAD_ARGUMENT',
} as const;

export type GuestErrorCodeValue = (typeof GuestErrorCode)[keyof typeof GuestErrorCode];

export class GuestError extends Error {
  override readonly name = 'GuestError';
  readonly code: string;

  constructor(code: GuestErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
