/**
 * The one shape every stage of `edgelab up` / `destroy` has, and what the runner gives it.
 *
 * A stage names its inputs (inventory sections, rendered artifacts, earlier stages' outputs) as
 * named parts; the runner hashes them and keeps the hashes in the journal, so a stage whose inputs
 * did not change since its last successful run is not run again, and one whose inputs changed
 * says which. `apply` is idempotent and reports how many things it changed.
 */
import type { Context } from "../context.js";
import type { Lab, Provider } from "../model/lab.js";
import type { InventoryLocation } from "./inventory-file.js";

/** Every stage, in the order they run (`destroy` walks them back). */
export const STAGE_ORDER = ["validate", "render", "images", "provision", "prepare", "k3s", "cilium", "local", "deploy", "dns", "smoke"] as const;
export type StageName = (typeof STAGE_ORDER)[number];

/**
 * Which providers each stage applies to. A cluster lab runs every stage but `local`; the local
 * lab runs validate → render → local → smoke.
 */
export const STAGE_PROVIDERS: Readonly<Record<StageName, readonly Provider[]>> = {
  validate: ["local", "proxmox"],
  render: ["local", "proxmox"],
  images: ["proxmox"],
  provision: ["proxmox"],
  prepare: ["proxmox"],
  k3s: ["proxmox"],
  cilium: ["proxmox"],
  local: ["local"],
  deploy: ["proxmox"],
  dns: ["proxmox"],
  smoke: ["local", "proxmox"],
};

export function isStageName(value: string): value is StageName {
  return (STAGE_ORDER as readonly string[]).includes(value);
}

/** What every stage can read: the lab, where its files are, the command's context. */
export interface PipelineContext {
  readonly ctx: Context;
  readonly location: InventoryLocation;
  readonly lab: Lab;
  /** The inventory's text (hashed for stages that consume all of it). */
  readonly inventoryText: string;
  /** Validation warnings, one line each (errors stop the run before any stage). */
  readonly warnings: readonly string[];
  /** `.edgelab/` beside the inventory. */
  readonly stateDir: string;
  /** Where this run's external-command logs go: `.edgelab/logs/<run>/`. */
  readonly logDir: string;
  /** Options of the command line parsed once into typed values, for the stages that use them. */
  readonly options: PipelineOptions;
  /** Outputs of the stages that already ran (or were unchanged) in this run, by stage. */
  readonly outputs: ReadonlyMap<StageName, Readonly<Record<string, string>>>;
  /** When each stage last changed something (ISO time), from the journal; smoke depends on these. */
  readonly lastChanged: ReadonlyMap<StageName, string>;
}

export interface PipelineOptions {
  /** Seconds a stage may wait for the lab to become ready. */
  readonly timeoutSeconds: number;
  readonly waitSsh: boolean;
  /** --tls-fingerprint for the Proxmox API (normalized), over the environment and the inventory. */
  readonly tlsFingerprint?: string | undefined;
  /**
   * Provider local: where the lab's processes run — on loopback (the default) or in the network
   * lab's namespaces behind FRR routers, edges on the BGP-announced service address (`netns`, root).
   */
  readonly network?: NetworkMode | undefined;
  /** How the deploy stage reaches the cluster (`edgelab deploy` flags); defaults when absent. */
  readonly kube?: KubeOptions | undefined;
  /** --trust-on-first-use: accept SSH host keys edgelab does not know (logged; never the default). */
  readonly trustOnFirstUse?: boolean;
  /** --kubeconfig: where the cluster's kubeconfig goes (default: merged into ~/.kube/config). */
  readonly kubeconfig?: string | undefined;
  /**
   * destroy --keep-vms: the VMs stay, so what edgelab installed on them is uninstalled instead
   * (playbooks/reset.yml: K3s, Cilium's links and rules, the API VIP's keepalived).
   */
  readonly keepVms?: boolean;
}

export interface KubeOptions {
  /** --kubeconfig: else $KUBECONFIG, .edgelab/kubeconfig beside the inventory, ~/.kube/config. */
  readonly kubeconfig?: string | undefined;
  /** --context: else the context named after the lab when there is one, else the current one. */
  readonly context?: string | undefined;
  /** --force-conflicts: take over fields another field manager owns. */
  readonly forceConflicts: boolean;
  /**
   * --manifests: apply every YAML document of this directory as it is (reviewed or hand-edited
   * copies) instead of the rendered k8s/ files. Absolute.
   */
  readonly manifests?: string | undefined;
}

export type NetworkMode = "loopback" | "netns";

/** A line of progress: per host when `host` is set (a sub-row on a terminal). */
export interface StepReport {
  readonly host?: string;
  readonly message: string;
}

/** Something a stage deliberately did not do, and why (e.g. a rehearsal against the simulator). */
export interface SkippedStep {
  readonly what: string;
  readonly reason: string;
}

export interface StageRun {
  readonly p: PipelineContext;
  /** Aborted on Ctrl-C / SIGTERM: stop children, return or throw promptly. */
  readonly signal: AbortSignal;
  step(report: StepReport): void;
  warn(message: string): void;
  /** A file under this run's log directory for an external command's full output. */
  logFile(name: string): string;
}

export interface StageOutcome {
  /** How many things this run changed (0: everything already matched). */
  readonly changes: number;
  /** One line for the summary table: "3 files changed", "lab started". */
  readonly summary: string;
  /** Values later stages may consume as inputs (kept in the journal). */
  readonly outputs?: Readonly<Record<string, string>>;
  /** What this run created (VMs, processes), for the journal and `destroy`. */
  readonly created?: readonly string[];
  readonly skipped?: readonly SkippedStep[];
  /** Structured facts for `--json` consumers (e.g. the local lab's stream URLs), in stage-end. */
  readonly details?: Readonly<Record<string, unknown>>;
  /** Lines for the end of the run (after the summary table), e.g. that a rehearsal contacted nothing. */
  readonly notes?: readonly string[];
  /** A failed check that is not an exception (smoke): the stage ends failed with this message. */
  readonly failure?: string;
}

export interface StagePlan {
  /** Human-readable lines of what apply would change; empty when nothing. */
  readonly changes: readonly string[];
}

export interface Stage {
  readonly name: StageName;
  /** A short description for `--help` and the task tree. */
  readonly title: string;
  /**
   * The providers this implementation handles, when fewer than STAGE_PROVIDERS says the stage
   * applies to: for the others it is reported as not available in this version.
   */
  readonly implementedFor?: readonly Provider[];
  /** Named input parts; any JSON value (hashed) or a string (hashed as text). */
  inputs(p: PipelineContext): Record<string, unknown> | Promise<Record<string, unknown>>;
  /**
   * A quick look at the systems: is what the last successful run made still there? Returns the
   * reason to run again (e.g. "2 processes are not running"), or undefined when all is in place.
   */
  verify?(p: PipelineContext): Promise<string | undefined>;
  /** Runs every time it is selected, whatever the journal says (checks such as smoke do not). */
  readonly always?: boolean;
  /** What apply would change, without side effects (`up --dry-run`). */
  plan?(p: PipelineContext): Promise<StagePlan>;
  apply(run: StageRun): Promise<StageOutcome>;
  /** Undo what this stage created for this inventory (`edgelab destroy`), touching nothing else. */
  destroy?(run: StageRun): Promise<StageOutcome>;
  /** What destroy would remove (shown before asking for confirmation); empty when nothing. */
  destroyPlan?(p: PipelineContext): Promise<StagePlan>;
}
