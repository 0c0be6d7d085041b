// Alerts about the exporter itself, per replica or per job.
local alert = import '../lib/alert.libsonnet';
local promql = import '../lib/promql.libsonnet';

{
  local config = $._config,
  local rule(name, text, severity, summary, description) =
    {
      alert: name,
      expr: promql.expr(config, text),
      labels: { severity: severity },
      annotations: {
        summary: summary,
        description: std.join(' ', description),
        runbook_url: promql.runbook(config, name),
      },
    } + alert.timing(config, name),

  exporterAlerts:: [
    // Every replica of the job is failing its scrapes: nothing records pings
    // and every per-check alert of the job is meaningless. The gated
    // per-check alerts cannot start firing meanwhile; Alertmanager inhibits
    // those that were already firing while this fires. `for: 5m`: a restart
    // (a missed scrape or two) must not page. A single replica down while
    // another still serves is DeadmanExporterReplicaDown instead, so one
    // broken replica in an HA pair does not silence every check. (With a
    // single replica this is simply up == 0.)
    rule(
      'DeadmanExporterDown',
      |||
        (up{%(sel)s} == 0)
        unless %(ignoring)s
        (up{%(sel)s} == 1)
      |||,
      'critical',
      'The deadman exporter is down.',
      [
        'deadman exporter {{ $labels.instance }} (job {{ $labels.job }}) has failed its scrapes',
        'and no other replica of the job is up. Pings from integrations are',
        'not being recorded and per-check alerts for this job are suppressed until it is back.',
      ],
    ),

    // Some, but not all, replicas are down. The others keep recording pings
    // (and the rules remember the down replica's last state), so per-check
    // alerts stay active; this is a warning for ops.
    rule(
      'DeadmanExporterReplicaDown',
      |||
        (up{%(sel)s} == 0)
        and %(ignoring)s
        (up{%(sel)s} == 1)
      |||,
      'warning',
      'A deadman exporter replica is down.',
      [
        'deadman replica {{ $labels.instance }} (job {{ $labels.job }}) has failed its scrapes',
        'while other replicas are up. Pings routed to it are lost unless the',
        'load balancer skips it.',
      ],
    ),

    // No target of the job exists at all (service discovery lost it, or the
    // scrape config was removed), so DeadmanExporterDown cannot fire. The
    // per-check gate treats it as "no replica up" too (max(up) is empty), so
    // nothing new fires.
    rule(
      'DeadmanExporterAbsent',
      |||
        absent(up{%(sel)s})
      |||,
      'critical',
      'The deadman exporter has disappeared from Prometheus.',
      [
        'Prometheus has no target for job {{ $labels.job }}: no deadman',
        'check is being monitored. Check the scrape configuration and service discovery.',
      ],
    ),

    // The exporter keeps running with its previous configuration, so this is
    // a warning: checks added or changed since are not monitored as
    // intended. Per replica, since each loads its own config.
    rule(
      'DeadmanConfigReloadFailed',
      |||
        deadman_config_last_reload_successful{%(sel)s} == 0
      |||,
      'warning',
      'The deadman exporter failed to reload its configuration.',
      [
        'deadman exporter {{ $labels.instance }} (job {{ $labels.job }}) failed to load its',
        'configuration and is still running the previous one. New or changed checks are not',
        "in effect. See the exporter's log for the error.",
      ],
    ),

    // increase() handles counter resets on restart. With a 10m window and a
    // 15m `for`, one isolated failed commit cannot fire; errors must keep
    // happening for a quarter of an hour.
    rule(
      'DeadmanStorageErrors',
      |||
        increase(deadman_storage_errors_total{%(sel)s}[10m]) > 0
      |||,
      'warning',
      'The deadman exporter cannot commit its state to storage.',
      [
        'deadman exporter {{ $labels.instance }} (job {{ $labels.job }}) failed',
        '{{ printf "%.0f" $value }} storage commits in the last 10 minutes (disk full, I/O',
        'error or read-only file system). While commits fail, pings are refused with 503 and',
        'not recorded (integrations that retry will resend them), so checks may turn late.',
        'Its /-/healthy endpoint shows the error.',
      ],
    ),

    // A burst, not a single stray request: at least 5 rejected pings of one
    // reason in 15 minutes, across all replicas (increase per replica first,
    // so restarts are harmless). Named by check where the check exists;
    // pings to names that are not configured (not_found) are counted without
    // a check label, so input can never create series. A burst of
    // unauthorized/not_found usually means a check was renamed or its token
    // rotated, and the integration still uses the old one.
    rule(
      'DeadmanPingsRejected',
      |||
        sum %(without)s (
          increase(deadman_check_pings_rejected_total{%(sel)s}[15m])
        ) >= 5
        or
        sum %(without)s (
          increase(deadman_pings_rejected_total{%(sel)s, reason="not_found"}[15m])
        ) >= 5
      |||,
      'warning',
      'The deadman exporter is rejecting pings.',
      [
        '{{ printf "%.0f" $value }} pings {{ if $labels.check }}to check {{ $labels.check }}{{ else }}to check names that are not configured{{ end }}',
        '(job {{ $labels.job }}) were rejected with reason {{ $labels.reason }} in the last 15 minutes.',
        '{{ if eq $labels.reason "unauthorized" "not_found" }}This usually means a check was renamed or its token rotated while an integration still uses the old name or token.{{ else if eq $labels.reason "unavailable" }}The exporter was temporarily unable to accept pings; those runs are not recorded.{{ else }}An integration is sending malformed pings.{{ end }}',
        'The affected checks will turn late if this continues.',
      ],
    ),
  ],
}
