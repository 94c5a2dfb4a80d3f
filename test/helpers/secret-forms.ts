/**
 * The ways a secret shows up in a log or a file: as it is, and base64-encoded (what Ansible's
 * slurp and many APIs return) at each of the three alignments it can have inside a longer
 * encoded text. Each base64 form keeps only the characters that depend on the secret alone.
 */
export function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  const encoded = [0, 1, 2].map((offset) => {
    const text = Buffer.concat([Buffer.alloc(offset, 0x20), bytes]).toString("base64");
    // The first group mixes in the filler bytes (offset > 0); the last may be partial or padded.
    return text.slice(offset === 0 ? 0 : 4, -4);
  });
  return [secret, ...encoded.filter((e) => e.length >= 8)];
}
