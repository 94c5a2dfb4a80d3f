/**
 * Certificates for the simulator, made with the system's openssl: by default what a freshly
 * installed Proxmox VE node serves (a cluster CA, "PVE Cluster Manager CA", and the node's
 * pve-ssl.pem signed by it with SANs for the node's names and addresses); or a self-signed one.
 */
import { execFileSync } from "node:child_process";
import { randomUUID, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ServerCertificate {
  readonly key: string;
  readonly cert: string;
  /** SHA-256 of `cert`, "AA:BB:..." */
  readonly fingerprint: string;
  /** The CA that signed `cert` (PEM); undefined for a self-signed certificate. */
  readonly caPem: string | undefined;
}

function subjectAltName(names: readonly string[]): string {
  return [...new Set(names)].map((n) => (isIP(n) !== 0 ? `IP:${n}` : `DNS:${n}`)).join(",");
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

export function selfSignedCertificate(commonName: string, altNames: readonly string[]): ServerCertificate {
  const dir = mkdtempSync(join(tmpdir(), "edgelab-sim-tls-"));
  try {
    openssl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj", `/CN=${commonName}`, "-addext", `subjectAltName=${subjectAltName(altNames)}`, "-keyout", "key.pem", "-out", "cert.pem"]);
    const cert = readFileSync(join(dir, "cert.pem"), "utf8");
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert, fingerprint: new X509Certificate(cert).fingerprint256, caPem: undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A cluster CA (subject as pvecm creates it: CN=Proxmox Virtual Environment, OU=<cluster uuid>,
 * O=PVE Cluster Manager CA) and a node certificate signed by it (OU=PVE Cluster Node,
 * O=Proxmox Virtual Environment, CN=<fqdn>) whose SANs are `names`.
 */
export function clusterCertificates(fqdn: string, names: readonly string[]): ServerCertificate {
  const dir = mkdtempSync(join(tmpdir(), "edgelab-sim-tls-"));
  try {
    openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", `/CN=Proxmox Virtual Environment/OU=${randomUUID()}/O=PVE Cluster Manager CA`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "730", "-CA", "ca.pem", "-CAkey", "ca.key", "-subj", `/OU=PVE Cluster Node/O=Proxmox Virtual Environment/CN=${fqdn}`, "-addext", `subjectAltName=${subjectAltName(names)}`, "-addext", "basicConstraints=CA:FALSE", "-addext", "keyUsage=digitalSignature,keyEncipherment", "-addext", "extendedKeyUsage=serverAuth", "-keyout", "node.key", "-out", "node.pem"]);
    const cert = readFileSync(join(dir, "node.pem"), "utf8");
    return { key: readFileSync(join(dir, "node.key"), "utf8"), cert, fingerprint: new X509Certificate(cert).fingerprint256, caPem: readFileSync(join(dir, "ca.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
