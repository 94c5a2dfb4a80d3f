/** A self-signed certificate for the simulator, made with the system's openssl. */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SelfSigned {
  readonly key: string;
  readonly cert: string;
  /** SHA-256, "AA:BB:..." */
  readonly fingerprint: string;
}

export function selfSignedCertificate(commonName: string, altNames: readonly string[]): SelfSigned {
  const dir = mkdtempSync(join(tmpdir(), "edgelab-sim-tls-"));
  try {
    const san = altNames.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj", `/CN=${commonName}`, "-addext", `subjectAltName=${san}`, "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
    const cert = readFileSync(join(dir, "cert.pem"), "utf8");
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert, fingerprint: new X509Certificate(cert).fingerprint256 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
