/**
 * rclone.conf for the `[rclone.remote]` table: one remote named "djaploy",
 * written 0600 on the server (and to a private temp file here for `restore`).
 * Password fields are stored "obscured" as rclone requires; the obscured form
 * is a reversible encoding, not encryption, so the file stays a Secret.
 */
import { nodeCrypto } from "../node_builtins.ts";
import { Secret } from "../secrets/secret.ts";

/** The remote's name in rclone.conf: paths are `djaploy:<path>`. */
export const REMOTE_NAME = "djaploy";

// rclone's fixed obscure key (fs/config/obscure/obscure.go).
const OBSCURE_KEY = Uint8Array.from([
  0x9c,
  0x93,
  0x5b,
  0x48,
  0x73,
  0x0a,
  0x55,
  0x4d,
  0x6b,
  0xfd,
  0x7c,
  0x63,
  0xc8,
  0x86,
  0xa9,
  0x2b,
  0xd3,
  0x90,
  0x19,
  0x8e,
  0xb8,
  0x12,
  0x8a,
  0xfb,
  0xf4,
  0xde,
  0x16,
  0x2b,
  0x8b,
  0x95,
  0xf6,
  0x38,
]);

/** Options rclone reads obscured (its IsPassword options): sftp, ftp, webdav, smb, crypt. */
export const OBSCURED_OPTIONS: readonly string[] = [
  "pass",
  "password",
  "password2",
  "key_file_pass",
];

/**
 * rclone's `obscure`: AES-CTR with rclone's fixed key, base64url of IV and
 * ciphertext. The IV comes from the value itself (rclone picks a random one;
 * either reveals the same) so the file's content, and its hash, stay the
 * same from run to run and configure rewrites nothing.
 */
export function obscure(value: string): string {
  const { createCipheriv, createHmac } = nodeCrypto();
  const iv = createHmac("sha256", "djaploy-rclone-obscure").update(value).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-256-ctr", OBSCURE_KEY, iv);
  const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
  return Buffer.concat([iv, body]).toString("base64url");
}

/** The text of rclone.conf: `[djaploy]` and the remote's options, secrets revealed. */
export function rcloneConf(remote: ReadonlyMap<string, string | Secret>): Secret {
  const lines = [`[${REMOTE_NAME}]`];
  for (const [key, v] of remote) {
    let text = v instanceof Secret ? v.reveal() : v;
    if (key === "key_pem") text = text.trim().replaceAll("\r\n", "\n").replaceAll("\n", "\\n");
    if (/[\r\n]/.test(text)) {
      throw new Error(`rclone.remote.${key}: a value must be one line`);
    }
    if (OBSCURED_OPTIONS.includes(key)) text = obscure(text);
    lines.push(`${key} = ${text}`);
  }
  return new Secret(lines.join("\n") + "\n");
}
