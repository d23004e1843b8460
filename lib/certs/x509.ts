/**
 * What a certificate says: serial, validity, names, issuer. Read with
 * node:crypto's X509Certificate (no process, no key material involved),
 * loaded on first use (lib/node_builtins.ts).
 */
import type { X509Certificate } from "node:crypto";
import { nodeCrypto } from "../node_builtins.ts";

export interface CertInfo {
  /** Hex, upper case, as `openssl x509 -serial` prints it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DNS names of the subjectAltName extension. */
  readonly names: readonly string[];
  readonly issuer: string;
  readonly selfSigned: boolean;
  /** SHA-256 fingerprint of the leaf. */
  readonly fingerprint: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle (fullchain.pem), leaf first. */
export function splitPem(pem: string): string[] {
  return pem.match(PEM_CERT) ?? [];
}

/** Parses the first certificate of a PEM text; undefined when there is none or it is broken. */
export function parseCertificate(pem: string): CertInfo | undefined {
  const first = splitPem(pem)[0];
  if (!first) return undefined;
  let cert: X509Certificate;
  try {
    cert = new (nodeCrypto().X509Certificate)(first);
  } catch {
    return undefined;
  }
  const names = (cert.subjectAltName ?? "").split(",").map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4).toLowerCase());
  return {
    serial: cert.serialNumber.toUpperCase().replace(/^0+(?=.)/, ""),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    names,
    issuer: cert.issuer.replaceAll("\n", ", "),
    selfSigned: cert.issuer === cert.subject && cert.checkIssued(cert),
    fingerprint: cert.fingerprint256,
  };
}

/** Whole days from `now` until the certificate expires (negative once expired). */
export function daysLeft(info: CertInfo, now = new Date()): number {
  return Math.floor((info.notAfter.getTime() - now.getTime()) / 86_400_000);
}

/**
 * Why a certificate must be (re)issued, or undefined when it is good:
 * missing, a name not covered, self-signed, or expiring within `renewBeforeDays`.
 */
export function renewalReason(
  info: CertInfo | undefined,
  names: readonly string[],
  renewBeforeDays: number,
  now = new Date(),
): string | undefined {
  if (!info) return "no certificate yet";
  const missing = names.filter((n) => !info.names.includes(n));
  if (missing.length) return `not valid for ${missing.join(", ")}`;
  if (info.selfSigned) return "self-signed";
  const left = daysLeft(info, now);
  if (left < 0) return `expired on ${isoDay(info.notAfter)}`;
  if (left < renewBeforeDays) return `expires in ${left} days (${isoDay(info.notAfter)})`;
  return undefined;
}

export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}
