import { defineConfig } from "vitest/config";

// The default run: unit + integration tests against the real programs. The opt-in suites that
// need a real lab (test/e2e/) have their own config: vitest.e2e.config.ts (npm run test:e2e).
//
// Files named test/integration/hosts-*.test.ts boot systemd test hosts (containers in network
// namespaces) and run Ansible against them: they form their own project, run one file at a
// time, after the other tests, so they neither compete with each other for the CPU nor slow
// the timing-sensitive tests down. The container-image tests (test/integration/images-*.test.ts:
// buildah, podman, a registry) are as heavy and join them.
const HOSTS = "test/integration/hosts-*.test.ts";
// The network lab's files (root: namespaces, FRR, gobgpd, nginx) run one at a time, after the
// others, for the same reason; each removes everything it made.
const NETLAB = "test/integration/netlab*.test.ts";
const IMAGES = "test/integration/images-*.test.ts";

export default defineConfig({
  test: {
    environment: "node",
    globalSetup: ["test/setup/build.ts"],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    reporters: ["default"],
    projects: [
      {
        extends: true,
        test: { name: "main", include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts"], exclude: [HOSTS, IMAGES, NETLAB] },
      },
      {
        extends: true,
        test: { name: "hosts", include: [HOSTS, IMAGES], fileParallelism: false, sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: { name: "netlab", include: [NETLAB], fileParallelism: false, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
