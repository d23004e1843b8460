/**
 * The built-in modules by the name a project lists them under. cli.ts hands
 * this table to the module loader (provideBuiltinModules in lib/engine/module_loader.ts):
 * the engine imports nothing of modules/ and knows the built-ins only as
 * modules, like a user's.
 */
import type { ModuleDefinition } from "../mod.ts";
import core from "./core/mod.ts";
import nginx from "./nginx/mod.ts";
import systemd from "./systemd/mod.ts";
import certs from "./certs/mod.ts";
import certRenewal from "./cert_renewal/mod.ts";
import rclone from "./rclone/mod.ts";
import borg from "./borg/mod.ts";
import litestream from "./litestream/mod.ts";
import tailscale from "./tailscale/mod.ts";

export const BUILTIN: Readonly<Record<string, ModuleDefinition>> = {
  core,
  nginx,
  systemd,
  certs,
  cert_renewal: certRenewal,
  rclone,
  borg,
  litestream,
  tailscale,
};
