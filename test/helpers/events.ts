/** The newline-delimited JSON events of `edgelab --json up|destroy` (docs/pipeline.md). */
export interface PipelineEventJson {
  event: string;
  stage?: string;
  status?: string;
  reason?: string;
  summary?: string;
  message?: string;
  details?: Record<string, unknown>;
}

export function events(stdout: string): PipelineEventJson[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as PipelineEventJson);
}

/** The stage-end event of a stage, or its stage-skip when the runner skipped it. */
export function stageResult(stdout: string, stage: string): PipelineEventJson | undefined {
  return events(stdout).find((e) => (e.event === "stage-end" || e.event === "stage-skip") && e.stage === stage);
}
