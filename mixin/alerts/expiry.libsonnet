// Expiry alerts: one per declared [[check.expiry]] (labels name and kind),
// with the check's owner, team and runbook_url. Not gated on the exporter
// being up: an expiry is a known date that stays true while the exporter is
// down (for the `memoryLong` the rules remember it), and the example
// Alertmanager inhibit rule targets DeadmanCheck.* only.
local alert = import '../lib/alert.libsonnet';

{
  local config = $._config,
  local expiryAt = '{{ with printf `job_check_name_kind:deadman_expiry_timestamp_seconds:max{job=%q,check=%q,name=%q,kind=%q}` $labels.job $labels.check $labels.name $labels.kind | query }}{{ . | first | value | humanizeTimestamp }}{{ else }}an unknown time{{ end }}.',
  // An owner review (kind review) is due, not expiring: worded as such.
  local what = '{{ if eq $labels.kind "review" }}The owner review{{ else }}The {{ reReplaceAll "_" " " $labels.kind }}{{ end }} {{ $labels.name }} of check {{ $labels.check }}',
  local owner = '(owner {{ or $labels.owner "unset" }}{{ with $labels.team }}, team {{ . }}{{ end }})',
  local rule(name, value, severity, summary, description) =
    {
      alert: name,
      expr: alert.withOwner(value),
      labels: { severity: severity },
      annotations: {
        summary: summary,
        description: std.join(' ', [what, owner] + description + [alert.lastSuccessQueried]),
        runbook_url: alert.checkRunbook(config, name),
      },
    } + alert.timing(config, name),

  expiryAlerts:: [
    // Expires within its warn_before (default 14 days) and has not expired
    // yet: expiry - warn_before <= time() < expiry. Severity warning: there
    // is still time to renew. It resolves when a later expiry is reported
    // (renewed) or configured. At the expiry itself the condition turns
    // false and DeadmanExpired's turns true at the same evaluation;
    // keep_firing_for (= DeadmanExpired's `for`, see config.libsonnet) keeps
    // this warning firing until DeadmanExpired fires, so there is no gap.
    // Value: seconds until it expires.
    rule(
      'DeadmanExpirySoon',
      |||
        (job_check_name_kind:deadman_expiry_timestamp_seconds:max - time() > 0)
        and
        (
            job_check_name_kind:deadman_expiry_timestamp_seconds:max
          - job_check_name_kind:deadman_expiry_warn_before_seconds:max
          <= time()
        )
      |||,
      'warning',
      'A credential, API version, certificate or contract used by a deadman check expires soon.',
      [
        '{{ if eq $labels.kind "review" }}is due in{{ else }}expires in{{ end }} {{ humanizeDuration $value }}, at',
        expiryAt,
        '{{ if eq $labels.kind "review" }}Re-read the runbook, rotate what needs rotating, confirm the owner, then move `at` to the next review.{{ else }}Renew it; the alert resolves once the integration reports the new expiry (or `at` is updated).{{ end }}',
      ],
    ),

    // time() >= expiry. Critical whatever the check's severity: the
    // integration is failing, or will at its next run (expired token,
    // retired API version, lapsed contract). An overdue owner review
    // (kind review) breaks nothing by itself: warning. `for: 1m`: the expiry is a
    // known date, not a measurement, so there is nothing to ride out beyond
    // one evaluation. Value: seconds since it expired.
    rule(
      'DeadmanExpired',
      '(time() - job_check_name_kind:deadman_expiry_timestamp_seconds:max >= 0)',
      '{{ if eq $labels.kind "review" }}warning{{ else }}critical{{ end }}',
      'A credential, API version, certificate or contract used by a deadman check has expired.',
      [
        '{{ if eq $labels.kind "review" }}is overdue by{{ else }}expired{{ end }} {{ humanizeDuration $value }}{{ if ne $labels.kind "review" }} ago{{ end }}, at',
        expiryAt,
        '{{ if eq $labels.kind "review" }}Review the integration and move `at` to the next review.{{ else }}Renew or replace it; the alert resolves once the integration reports the new expiry (or `at` is updated).{{ end }}',
      ],
    ),
  ],
}
