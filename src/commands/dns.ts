/** `edgelab dns set <ip>`: the service's A record, by dynamic update, or the hosts-file line. */
import { Command } from "commander";
import { hostsLine, updateServiceRecord } from "../dns/index.js";
import { EdgelabError, EXIT_USAGE, UsageError } from "../errors.js";
import { loadLab } from "../pipeline/inventory-file.js";
import { tsigSecret } from "../pipeline/stages/dns.js";
import { isIpv4 } from "../util/ipv4.js";
import { println, type App } from "./app.js";

export function dnsCommand(app: App): Command {
  const dns = new Command("dns").description("the DNS record viewers use for the service (dns.name in the inventory)").addHelpText(
    "after",
    `
Examples:
  $ edgelab dns set 172.16.230.10 -i inventories/lab.yml
  $ edgelab dns set --help`,
  );
  dns
    .command("set")
    .description("point dns.name at <ip>: an RFC 2136 update signed with TSIG when dns.server is set, else print the hosts-file line")
    .argument("<ip>", "IPv4 address of the service (the Ingress' LoadBalancer IP)")
    .addHelpText(
      "after",
      `
With dns.server and dns.tsig in the inventory, edgelab asks the server first and sends nothing
when it already answers exactly <ip>; otherwise it replaces the A record (delete + add in one
signed update) and reads it back. Without dns.server it prints the line for /etc/hosts.

Examples:
  $ EDGELAB_TSIG_SECRET=... edgelab dns set 172.16.230.10 -i inventories/lab.yml
  $ edgelab dns set 172.16.230.10 --json
  $ edgelab dns set 127.0.0.1 -i inventories/local.yml >> hosts.txt`,
    )
    .action(async (ip: string, _options: unknown, cmd: Command) => {
      const ctx = app.context(cmd);
      if (!isIpv4(ip)) throw new UsageError(`'${ip}' is not an IPv4 address`, "Give the service's address as a.b.c.d, e.g. edgelab dns set 172.16.230.10.");
      const { lab, location } = loadLab(ctx);
      const settings = lab.dns;
      if (settings === undefined) throw new EdgelabError("the inventory has no dns section", { hint: "Add dns: {name: live.example.com} (and server/tsig for dynamic updates).", exitCode: EXIT_USAGE });
      if (settings.server === undefined) {
        const line = hostsLine(settings.name, ip);
        if (ctx.options.json) println(ctx.stdout, JSON.stringify({ name: settings.name, ip, method: "hosts", line }));
        else {
          println(ctx.stderr, `# The inventory names no DNS server (dns.server); add this line to /etc/hosts:`);
          println(ctx.stdout, line);
        }
        return;
      }
      const secret = tsigSecret(settings, ctx.env, location.path);
      const result = await updateServiceRecord(settings, ip, secret);
      if (ctx.options.json) {
        println(ctx.stdout, JSON.stringify({ name: settings.name, ip, method: "rfc2136", server: `${settings.server}:${settings.port}`, changed: result.changed, previous: result.previous }));
        return;
      }
      const s = app.style(ctx);
      const what = !result.changed ? s.dim("unchanged") : result.previous.length === 0 ? s.green("created") : `${s.green("replaced")} (was ${result.previous.join(", ")})`;
      println(ctx.stdout, `${settings.name} A ${ip}: ${what} on ${settings.server}:${settings.port}`);
    });
  return dns;
}
