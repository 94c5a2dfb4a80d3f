/**
 * Whether edgelab may contact the lab's hosts at their inventory addresses — the one gate every
 * step that dials a host goes through (SSH waits, host keys over SSH, Ansible, kubeconfig fetch,
 * smoke tests against lab addresses).
 *
 * Against a real cluster the hosts are reached. In a rehearsal (the provider is edgelab's own
 * simulator: the VMs exist only inside it) nothing is dialed: each step is recorded as skipped,
 * with the reason, so the run can say truthfully that nothing outside the simulator was
 * contacted. On a user's network an inventory address in a rehearsal belongs to whatever
 * machine holds it today.
 */

export interface HostRef {
  readonly name: string;
  readonly address: string;
}

export interface SkippedStep {
  readonly host: string;
  readonly address: string;
  readonly step: string;
  readonly reason: string;
}

export type Reached<T> = { readonly reached: true; readonly value: T } | { readonly reached: false; readonly skipped: SkippedStep };
export type ReachedAll<T> = { readonly reached: true; readonly value: T } | { readonly reached: false; readonly skipped: readonly SkippedStep[] };

export class HostAccess {
  private readonly skips: SkippedStep[] = [];
  private readonly listeners: ((skip: SkippedStep) => void)[] = [];

  private constructor(
    /** Why the hosts are not contacted; undefined when they are. */
    readonly rehearsal: string | undefined,
  ) {}

  /** The hosts exist at their inventory addresses: steps reach them. */
  static direct(): HostAccess {
    return new HostAccess(undefined);
  }

  /** The hosts do not exist (a simulated provider): no step reaches them; `reason` says why. */
  static rehearsal(reason: string): HostAccess {
    return new HostAccess(reason);
  }

  get isRehearsal(): boolean {
    return this.rehearsal !== undefined;
  }

  /** Called for every step skipped from now on (progress output, JSON events). */
  onSkip(listener: (skip: SkippedStep) => void): void {
    this.listeners.push(listener);
  }

  /** Everything skipped so far, in order. */
  get skipped(): readonly SkippedStep[] {
    return this.skips;
  }

  /**
   * Runs `dial` against the host's address, or — in a rehearsal — records the step as skipped
   * without calling it. The only way edgelab code may contact an inventory address.
   */
  async reach<T>(host: HostRef, step: string, dial: (address: string) => Promise<T>): Promise<Reached<T>> {
    if (this.rehearsal !== undefined) return { reached: false, skipped: this.skip(host, step, this.rehearsal) };
    return { reached: true, value: await dial(host.address) };
  }

  /** One step over many hosts at once (an ansible-playbook run): all reached, or all skipped. */
  async reachAll<T>(hosts: readonly HostRef[], step: string, dial: (addresses: readonly string[]) => Promise<T>): Promise<ReachedAll<T>> {
    const reason = this.rehearsal;
    if (reason !== undefined) return { reached: false, skipped: hosts.map((h) => this.skip(h, step, reason)) };
    return { reached: true, value: await dial(hosts.map((h) => h.address)) };
  }

  private skip(host: HostRef, step: string, reason: string): SkippedStep {
    const skipped = { host: host.name, address: host.address, step, reason };
    this.skips.push(skipped);
    for (const listener of this.listeners) listener(skipped);
    return skipped;
  }

  /** The closing line of a rehearsal; undefined for a real run. */
  summary(): string | undefined {
    return this.rehearsal === undefined ? undefined : "rehearsal: nothing outside the simulator was contacted";
  }
}
