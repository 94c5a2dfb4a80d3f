import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
    environment: "node",
    globalSetup: ["test/setup/build.ts"],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
