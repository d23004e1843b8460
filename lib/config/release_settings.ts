/**
 * The project's [versioning] and [notifications] settings with their
 * defaults, and the rules that span keys (a webhook for notifications, an
 * endpoint for the llm changelog).
 */
import type { NotificationsConfig, VersioningConfig } from "./types.ts";
import type { Layer } from "./validate_layer.ts";
import type { ConfigProblem } from "./problems.ts";
import { resolveDefaults } from "./build_host.ts";

export interface ReleaseSettings {
  readonly versioning?: VersioningConfig;
  readonly notifications?: NotificationsConfig;
}

/** The settings of the tables djaploy.toml has; a missing table stays undefined. */
export function releaseSettings(project: Layer): ReleaseSettings {
  const resolved = resolveDefaults(project);
  const out: { versioning?: VersioningConfig; notifications?: NotificationsConfig } = {};
  if (project.versioning !== undefined) out.versioning = resolved.versioning as VersioningConfig;
  if (project.notifications !== undefined) {
    out.notifications = resolved.notifications as NotificationsConfig;
  }
  return out;
}

/** Problems across keys of the validated djaploy.toml. */
export function releaseProblems(project: Layer): ConfigProblem[] {
  const n = project.notifications as Partial<NotificationsConfig> | undefined;
  if (n === undefined) return [];
  const problems: ConfigProblem[] = [];
  if ((n.notify ?? true) || (n.notify_on_failure ?? true)) {
    if (n.webhook_url === undefined) {
      problems.push({
        path: ["notifications", "webhook_url"],
        linePath: ["notifications"],
        message: "is required when notify or notify_on_failure is true (both are by default)",
      });
    }
  }
  if (n.changelog_generator === "llm" && n.changelog_config === undefined) {
    problems.push({
      path: ["notifications", "changelog_config"],
      linePath: ["notifications", "changelog_generator"],
      message: 'is required when changelog_generator = "llm": a table with api_url and model',
    });
  }
  return problems;
}
