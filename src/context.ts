/**
 * The one object through which commands reach the outside world. Tests build their own.
 */
export interface Output {
  write(text: string): void;
  /** Whether this stream is a terminal (enables colour and live progress). */
  readonly isTTY: boolean;
}

export interface GlobalOptions {
  /** Inventory path as given by -i (undefined: use the default lookup). */
  readonly inventory: string | undefined;
  readonly json: boolean;
  readonly verbose: boolean;
  readonly color: boolean;
}

export interface Context {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: Output;
  readonly stderr: Output;
  readonly options: GlobalOptions;
}
