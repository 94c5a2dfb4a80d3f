/** The parts of a live MPD the smoke test needs: init and latest segment per representation. Pure. */

export interface DashRepresentation {
  readonly id: string;
  readonly mimeType: string | undefined;
  readonly init: string;
  /** URL (relative to the MPD) of the newest segment in the timeline. */
  readonly latest: string | undefined;
}

export function parseMpd(xml: string): { type: string | undefined; representations: DashRepresentation[] } | { error: string } {
  if (!/<MPD[\s>]/.test(xml)) return { error: "not an MPD (no <MPD> element)" };
  const type = /<MPD[^>]*\stype="([^"]+)"/.exec(xml)?.[1];
  const representations: DashRepresentation[] = [];
  const repRe = /<Representation\b([^>]*)>([\s\S]*?)<\/Representation>/g;
  for (let m = repRe.exec(xml); m !== null; m = repRe.exec(xml)) {
    const attrs = m[1] ?? "";
    const body = m[2] ?? "";
    const id = /\sid="([^"]+)"/.exec(attrs)?.[1] ?? "?";
    const template = /<SegmentTemplate\b([^>]*)>/.exec(body)?.[1] ?? "";
    const media = /\smedia="([^"]+)"/.exec(template)?.[1];
    const init = /\sinitialization="([^"]+)"/.exec(template)?.[1];
    if (media === undefined || init === undefined) return { error: `representation ${id} has no SegmentTemplate media/initialization` };
    let t = 0;
    let last: number | undefined;
    const sRe = /<S\b([^>]*)\/>/g;
    for (let s = sRe.exec(body); s !== null; s = sRe.exec(body)) {
      const sa = s[1] ?? "";
      const start = /\st="(\d+)"/.exec(sa)?.[1];
      const dur = Number(/\sd="(\d+)"/.exec(sa)?.[1] ?? "0");
      const repeat = Number(/\sr="(\d+)"/.exec(sa)?.[1] ?? "0");
      if (start !== undefined) t = Number(start);
      last = t + repeat * dur;
      t += (repeat + 1) * dur;
    }
    const fill = (pattern: string): string => pattern.replaceAll("$RepresentationID$", id);
    representations.push({ id, mimeType: /\smimeType="([^"]+)"/.exec(attrs)?.[1], init: fill(init), latest: last === undefined ? undefined : fill(media).replace("$Time$", String(last)) });
  }
  return { type, representations };
}
