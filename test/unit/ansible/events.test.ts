/** Ansible's unreachable messages as edgelab shows them: one line saying what happened. */
import { describe, expect, it } from "vitest";
import { unreachableMessage } from "../../../src/ansible/events.js";

// What ansible-playbook reported for a host presenting another key (OpenSSH 9.2's banner, as the jsonl callback carried it).
const CHANGED = `Data could not be sent to remote host "198.18.199.10". Make sure this host can be reached over ssh: @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:2Ebw5HVua6xTCfs9N8gw1T6PQGfmJZ/2QHU11zMldZ0.
Please contact your system administrator.
Add correct host key in /lab/.edgelab/known_hosts to get rid of this message.
Offending ED25519 key in /lab/.edgelab/known_hosts:5
  remove with:
  ssh-keygen -f "/lab/.edgelab/known_hosts" -R "198.18.199.10"
Host key for 198.18.199.10 has changed and you have requested strict checking.
Host key verification failed.`;

const UNKNOWN = `Failed to connect to the host via ssh: No ED25519 host key is known for 198.18.199.10 and you have requested strict checking.
Host key verification failed.`;

describe("unreachableMessage", () => {
  it("says which key a host presented instead of the known one, without OpenSSH's banner", () => {
    expect(unreachableMessage(CHANGED)).toBe("SSH host key verification failed: the host presented ED25519 SHA256:2Ebw5HVua6xTCfs9N8gw1T6PQGfmJZ/2QHU11zMldZ0, which is not the key edgelab knows for it (/lab/.edgelab/known_hosts); connection refused");
  });
  it("says when no key is known for the host at all", () => {
    expect(unreachableMessage(UNKNOWN)).toBe("SSH host key verification failed: no ED25519 host key is known for 198.18.199.10 (strict checking)");
  });
  it("keeps other reasons, without Ansible's preamble", () => {
    expect(unreachableMessage('Data could not be sent to remote host "198.18.1.10". Make sure this host can be reached over ssh: ssh: connect to host 198.18.1.10 port 22: Connection refused')).toBe("ssh: connect to host 198.18.1.10 port 22: Connection refused");
  });
});
