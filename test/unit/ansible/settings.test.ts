/**
 * The environment edgelab gives ansible-playbook: edgelab's settings, and Ansible's defaults as
 * the benchmark compares them (what ansible-playbook does without configuration, host keys still
 * checked strictly).
 */
import { describe, expect, it } from "vitest";
import { ANSIBLE_DEFAULTS, ansibleEnvironment, EDGELAB_SETTINGS } from "../../../src/ansible/settings.js";

const PATHS = { knownHostsFile: "/lab/.edgelab/known_hosts", controlDir: "/tmp/edgelab-ssh-x", localTemp: "/lab/.edgelab/ansible/tmp", factCache: "/lab/.edgelab/ansible/facts", rolesDir: "/opt/edgelab/roles" };

describe("edgelab's Ansible settings", () => {
  it("pipeline, run every host at once, name the interpreter and keep SSH masters for the run", () => {
    const env = ansibleEnvironment(EDGELAB_SETTINGS, PATHS, "k3s");
    expect(env.ANSIBLE_PIPELINING).toBe("True");
    expect(env.ANSIBLE_FORKS).toBe("50");
    expect(env.ANSIBLE_PYTHON_INTERPRETER).toBe("/usr/bin/python3");
    expect(env.ANSIBLE_SSH_ARGS).toContain("ControlPersist=300s");
    expect(env.ANSIBLE_SSH_ARGS).not.toMatch(/(^| )-C( |$)/);
    expect(env.ANSIBLE_SSH_ARGS).toContain("StrictHostKeyChecking=yes");
    expect(env.ANSIBLE_SSH_ARGS).toContain("UserKnownHostsFile=/lab/.edgelab/known_hosts");
  });

  it("run prepare with the free strategy and no fact gathering, and no other playbook (their plays wait for each other and use facts)", () => {
    const prepare = ansibleEnvironment(EDGELAB_SETTINGS, PATHS, "prepare");
    expect(prepare.ANSIBLE_STRATEGY).toBe("free");
    expect(prepare.ANSIBLE_GATHERING).toBe("explicit");
    for (const playbook of ["k3s", "cilium", "upgrade", "reset", "site"]) {
      const env = ansibleEnvironment(EDGELAB_SETTINGS, PATHS, playbook);
      expect(env, playbook).not.toHaveProperty("ANSIBLE_STRATEGY");
      expect(env.ANSIBLE_GATHERING, playbook).toBe("smart");
    }
  });
});

describe("Ansible's defaults (the benchmark's other column)", () => {
  it("stay what ansible-playbook does unconfigured: no pipelining, 5 forks, discovery, ControlPersist 60 s, -C, linear, no fact cache", () => {
    const env = ansibleEnvironment(ANSIBLE_DEFAULTS, PATHS, "prepare");
    expect(env.ANSIBLE_PIPELINING).toBe("False");
    expect(env.ANSIBLE_FORKS).toBe("5");
    expect(env.ANSIBLE_PYTHON_INTERPRETER).toBe("auto_silent");
    expect(env.ANSIBLE_SSH_ARGS).toContain("ControlPersist=60s");
    expect(env.ANSIBLE_SSH_ARGS).toMatch(/^-C /);
    expect(env).not.toHaveProperty("ANSIBLE_STRATEGY");
    expect(env).not.toHaveProperty("ANSIBLE_GATHERING");
    // Host keys are still checked strictly.
    expect(env.ANSIBLE_SSH_ARGS).toContain("StrictHostKeyChecking=yes");
  });
});
