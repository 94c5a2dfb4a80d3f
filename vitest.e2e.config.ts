import { defineConfig } from "vitest/config";

// Opt-in end-to-end suites against a real lab (Proxmox VE, a K3s cluster). Each file says which
// EDGELAB_E2E_* variables it needs; `npm run test:e2e` runs them one file at a time.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/setup/build.ts"],
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    reporters: ["default"],
  },
});
