import { describe, expect, it } from "vitest";
import { normalizeFingerprint } from "../../../../src/providers/proxmox/client.js";

const CANONICAL = "8A:3D:3E:6F:F0:9C:E4:55:70:8F:83:E1:F9:F7:E5:C6:38:3F:1F:94:92:A1:05:B6:F3:41:C7:61:C3:73:63:C2";

describe("certificate fingerprints as users paste them", () => {
  it.each([
    ["the canonical form", CANONICAL],
    ["lower case", CANONICAL.toLowerCase()],
    ["without colons", CANONICAL.replaceAll(":", "")],
    ["lower case without colons", CANONICAL.replaceAll(":", "").toLowerCase()],
    ["as `openssl x509 -noout -fingerprint -sha256` prints it", `sha256 Fingerprint=${CANONICAL}`],
    ["as older openssl prints it", `SHA256 Fingerprint=${CANONICAL}`],
    ["with surrounding blanks and a newline", `  ${CANONICAL}\n`],
  ])("reads %s", (_what, pasted) => {
    expect(normalizeFingerprint(pasted)).toBe(CANONICAL);
  });
  it.each([
    ["a SHA-1 fingerprint", "8A:3D:3E:6F:F0:9C:E4:55:70:8F:83:E1:F9:F7:E5:C6:38:3F:1F:94"],
    ["one hex digit too many", `${CANONICAL}0`],
    ["a non-hex character", CANONICAL.replace("8A", "8G")],
    ["an OpenSSH-style base64 fingerprint", "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"],
  ])("refuses %s", (_what, pasted) => {
    expect(() => normalizeFingerprint(pasted)).toThrow(/not a SHA-256 certificate fingerprint/);
  });
});
