"""Announces a failed scheduled job (written by djaploy; see docs/security.md).

Run by {app}-notify-failure@<failed unit>.service: argv[1] is the failed unit,
MONITOR_SERVICE_RESULT / MONITOR_EXIT_CODE / MONITOR_EXIT_STATUS its outcome
(set by systemd for OnFailure= units), the webhook URL is the credential
"webhook". POSTs JSON with a timeout and one retry; never prints the URL.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request


def mrkdwn(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(kind, d):
    if kind == "webhook":
        return {
            "event": "schedule.failed",
            "app": d["app"],
            "environment": d["environment"],
            "host": d["host"],
            "job": d["job"],
            "unit": d["unit"],
            "result": d["result"],
            "exit_code": d["exit_code"] or None,
            "exit_status": d["exit_status"] or None,
            "time": d["time"],
            "djaploy": d["version"],
        }
    title = "%s: scheduled job %s failed on %s" % (d["app"], d["job"], d["host"])
    fields = [
        ("Environment", d["environment"]),
        ("Host", d["host"]),
        ("Job", d["job"]),
        ("Result", d["outcome"]),
    ]
    return {
        "text": "%s (%s)" % (title, d["outcome"]),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*%s*\n%s" % (k, mrkdwn(v))} for k, v in fields
                ],
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Its output: *journalctl -u %s* on %s"
                    % (mrkdwn(d["unit"]), mrkdwn(d["host"])),
                },
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "djaploy %s · %s" % (d["version"], d["time"])}
                ],
            },
        ],
    }


def main():
    unit = sys.argv[1]
    env = os.environ
    prefix = env["DJAPLOY_UNIT_PREFIX"]
    job = unit
    if unit.startswith(prefix) and unit.endswith(".service"):
        job = unit[len(prefix):-len(".service")]
    with open(os.path.join(env["CREDENTIALS_DIRECTORY"], "webhook")) as f:
        url = f.read().strip()
    result = env.get("MONITOR_SERVICE_RESULT", "unknown")
    code = env.get("MONITOR_EXIT_CODE", "")
    status = env.get("MONITOR_EXIT_STATUS", "")
    outcome = result + (" (%s %s)" % (code, status) if code else "")
    d = {
        "app": env["DJAPLOY_APP"],
        "environment": env["DJAPLOY_ENVIRONMENT"],
        "host": env["DJAPLOY_HOST"],
        "job": job,
        "unit": unit,
        "result": result,
        "exit_code": code,
        "exit_status": status,
        "outcome": outcome,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "version": env.get("DJAPLOY_VERSION", ""),
    }
    body = json.dumps(payload(env.get("DJAPLOY_KIND", "slack"), d)).encode()
    timeout = float(env.get("DJAPLOY_TIMEOUT", "5"))
    reason = ""
    for attempt in (1, 2):
        if attempt > 1:
            time.sleep(0.5)
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                answer.read()
            print("announced the failure of %s (%s)" % (job, outcome))
            return 0
        except urllib.error.HTTPError as e:
            reason = "HTTP %d" % e.code
        except Exception as e:  # noqa: BLE001 - any failure is reported, the URL masked
            reason = ("%s: %s" % (type(e).__name__, e)).replace(url, "[REDACTED]")
    sys.stderr.write("could not announce the failure of %s: %s (after 2 attempts)\n" % (job, reason))
    return 1


if __name__ == "__main__":
    sys.exit(main())
