/**
 * The dns stage (provider proxmox): once the deploy stage has the Ingress' address, the service's
 * name (dns.name) points at it — an A record written with an RFC 2136 update signed with TSIG
 * when the inventory names a DNS server (created, replaced when the address changes, never
 * duplicated), otherwise the hosts-file line to add, printed at the end of the run.
 */
import { dirname, join } from "node:path";
import { hostsLine, serviceRecord, updateServiceRecord } from "../../dns/index.js";
import { EdgelabError, EXIT_USAGE } from "../../errors.js";
import type { DnsModel } from "../../model/lab.js";
import { resolveSecret } from "../secrets.js";
import type { PipelineContext, Stage, StageOutcome } from "../stage.js";
import { hostAccess } from "./access.js";
import { deployOutputs, rehearsalOutcome, type DeployEndpoints } from "./deploy.js";

/** The TSIG key's secret (from the environment or a 0600 file; never generated, never printed). */
export function tsigSecret(settings: DnsModel, env: Readonly<Record<string, string | undefined>>, inventoryPath: string): string {
  if (settings.tsig === undefined) throw new EdgelabError("dns.server is set but dns.tsig is not: edgelab never sends unsigned updates", { hint: "Add dns.tsig {name, algorithm, secret} (see docs/deploy.md).", exitCode: EXIT_USAGE });
  if (typeof settings.tsig.secret === "object" && "generate" in settings.tsig.secret) {
    throw new EdgelabError("dns.tsig.secret cannot be generated: it must be the secret of a key the DNS server already has", { hint: "Use {env: NAME} or {file: path} holding the base64 secret of the server's key.", exitCode: EXIT_USAGE });
  }
  const base = dirname(inventoryPath);
  return resolveSecret(settings.tsig.secret, "dns-tsig-secret", { env, baseDir: base, secretsDir: join(base, ".edgelab", "secrets") });
}

function endpoints(p: PipelineContext): DeployEndpoints {
  const e = deployOutputs(p.outputs.get("deploy"));
  if (e === undefined) throw new EdgelabError("the deploy stage has not recorded the Ingress' address", { hint: "Run edgelab deploy (or edgelab up --from deploy) first." });
  return e;
}

export const dnsStage: Stage = {
  name: "dns",
  title: "the service's name → the Ingress' address (RFC 2136 + TSIG, or the hosts line)",

  inputs: (p) => {
    const d = p.lab.dns;
    return {
      ingress: deployOutputs(p.outputs.get("deploy")) ?? null,
      dns: d === undefined ? null : { name: d.name, server: d.server ?? null, port: d.port, zone: d.zone, ttl: d.ttl, tsig: d.tsig === undefined ? null : { name: d.tsig.name, algorithm: d.tsig.algorithm, secret: d.tsig.secret } },
    };
  },
  // The server is asked (signed): a record changed or deleted behind edgelab's back is noticed.
  verify: async (p) => {
    const d = p.lab.dns;
    if (d?.server === undefined || hostAccess(p).isRehearsal) return undefined;
    const want = endpoints(p).ingressIp;
    const now = await serviceRecord(d, tsigSecret(d, p.ctx.env, p.location.path));
    return now.length === 1 && now[0] === want ? undefined : `${d.name} answers ${now.length === 0 ? "nothing" : now.join(", ")}, not ${want}`;
  },
  plan: (p) => {
    const e = deployOutputs(p.outputs.get("deploy"));
    const d = p.lab.dns;
    const ip = e?.ingressIp ?? "<the Ingress' address, once deploy has it>";
    return Promise.resolve({ changes: [d?.server === undefined ? `print the hosts line for ${d?.name ?? e?.host ?? "the Ingress' host"} → ${ip}` : `${d.name} A ${ip} on ${d.server}:${d.port} (RFC 2136, key ${d.tsig?.name ?? "?"})`] });
  },
  apply: async (run): Promise<StageOutcome> => {
    const p = run.p;
    const rehearsal = rehearsalOutcome(p, "pointing the service's name at the Ingress");
    if (rehearsal !== undefined) return rehearsal;
    const e = endpoints(p);
    const d = p.lab.dns;
    if (d?.server === undefined) {
      const line = hostsLine(d?.name ?? e.host, e.ingressIp);
      return {
        changes: 0,
        summary: `no DNS server in the inventory: add ${line.replace("\t", " ")} to /etc/hosts`,
        outputs: { method: "hosts", line },
        details: { method: "hosts", name: d?.name ?? e.host, ip: e.ingressIp, line },
        notes: [`The inventory names no DNS server (dns.server): add this line to /etc/hosts on the machines that watch the lab:\n${line}`],
      };
    }
    run.step({ message: `${d.name} A ${e.ingressIp}: asking ${d.server}:${d.port} (signed with key ${d.tsig?.name ?? "?"})` });
    const result = await updateServiceRecord(d, e.ingressIp, tsigSecret(d, p.ctx.env, p.location.path));
    const what = !result.changed ? "unchanged" : result.previous.length === 0 ? "created" : `replaced (was ${result.previous.join(", ")})`;
    return {
      changes: result.changed ? 1 : 0,
      summary: `${d.name} A ${e.ingressIp} ${what} on ${d.server}:${d.port}`,
      outputs: { method: "rfc2136", ip: e.ingressIp },
      details: { method: "rfc2136", name: d.name, ip: e.ingressIp, server: `${d.server}:${d.port}`, changed: result.changed, previous: result.previous },
    };
  },
};
