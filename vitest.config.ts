import { defineConfig } from "vitest/config";

// The default run: unit + integration tests against the real programs. The opt-in suites that
// need a real lab (test/e2e/) have their own config: vitest.e2e.config.ts (npm run test:e2e).
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/setup/build.ts"],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
