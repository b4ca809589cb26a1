/**
 * QEMU's auto-converge rule (migration/ram.c, migration_trigger_throttle): at each dirty sync, when the
 * bytes the guest dirtied in the period exceed THRESHOLD of the bytes transferred in it, count it; the second
 * such period in a row throttles the vCPUs, starting at INITIAL percent and adding INCREMENT each time after,
 * up to MAX. The throttle is released when the migration ends, however it ends.
 */
export const AUTO_CONVERGE_THRESHOLD = 0.5;
export const AUTO_CONVERGE_INITIAL = 20;
export const AUTO_CONVERGE_INCREMENT = 10;
export const AUTO_CONVERGE_MAX = 99;

export class AutoConverge {
  private highPeriods = 0;
  private level = 0;

  /** The throttle percentage now in force (0: none). */
  get throttlePercent(): number {
    return this.level;
  }

  /**
   * One dirty sync: bytes dirtied and bytes transferred since the previous one. Returns the new throttle
   * percentage when it changed, else undefined.
   */
  observe(bytesDirtied: number, bytesTransferred: number): number | undefined {
    if (bytesDirtied <= AUTO_CONVERGE_THRESHOLD * bytesTransferred) {
      // "Twice in a row": a calm period starts the count again.
      this.highPeriods = 0;
      return undefined;
    }
    this.highPeriods += 1;
    if (this.highPeriods < 2) return undefined;
    this.highPeriods = 0;
    const next = this.level === 0 ? AUTO_CONVERGE_INITIAL : Math.min(this.level + AUTO_CONVERGE_INCREMENT, AUTO_CONVERGE_MAX);
    if (next === this.level) return undefined;
    this.level = next;
    return next;
  }
}
