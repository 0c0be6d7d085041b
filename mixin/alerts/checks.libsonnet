// Per-check freshness alerts: late, failing, running too long, failing to
// authenticate. All gated on the exporter being up (lib/alert.libsonnet).
//
// Timing (README.md "Alerting: timing"): with the example configs (scrape
// 15s, evaluation 30s, group_wait 30s) and `for: 30s`:
//   * Late / RunningTooLong: the deadline (grace included) and the run's
//     start are exported ahead of time, so the first evaluation after the
//     deadline (<= 30s later) makes the alert pending, `for: 30s` fires it at
//     the next evaluation, and Alertmanager notifies after group_wait (30s):
//     at most deadline + 1m30s.
//   * Failing / AuthFailing: the failure must be scraped first (<= 15s): at
//     most failure + 1m45s. A check pages at its first failure.
//   * A success resolves a firing alert at the first evaluation after the
//     scrape that sees it (<= 15s + 30s).
// alerts/tests/timing_test.yml proves these at these real intervals.
local alert = import '../lib/alert.libsonnet';
local promql = import '../lib/promql.libsonnet';

{
  local config = $._config,
  local rule(name, condition, summary, description, extra={}) =
    {
      alert: name,
      expr: alert.gatedSinceSuccess(config, name, condition),
      labels: { severity: alert.checkSeverity },
      annotations: {
        summary: summary,
        description: std.join(' ', description),
        runbook_url: alert.checkRunbook(config, name),
      } + extra,
    } + alert.timing(config, name),

  // failure_threshold: not while fewer runs than the threshold failed in a
  // row since the newest success on any replica. Written as `unless` a
  // known shortfall, so a check whose count or threshold is not exported
  // pages at its first failure, as before.
  local failedEnough = |||
    unless on (check)
    (
        job_check:deadman_check_failed_runs_since_last_success:count
      < job_check:deadman_check_failure_threshold:max
    )
  |||,

  checkAlerts:: [
    // The deadline already includes the check's grace period. `for` only
    // holds the alert for one more evaluation, so that a deadline passing
    // just after the exporter died (before a failed scrape shows it) is
    // dropped by the gate instead of paging.
    rule(
      'DeadmanCheckLate',
      '(job_check:deadman_check_deadline_timestamp_seconds:max < time())',
      'Deadman check missed its deadline.',
      [
        alert.whoIs,
        'did not report a successful run before its deadline.',
        '{{ if lt $value 0.0 }}It has never succeeded since it was first configured.{{ else }}It last succeeded {{ humanizeDuration $value }} ago.{{ end }}',
      ],
    ),

    // The most recent run failed: the newest failure (any replica) is newer
    // than the newest success (any replica). Using the maxima of both means
    // a failure on one replica followed by a success on another is
    // correctly seen as recovered. With failure_threshold = N, only once N
    // runs in a row failed (see failedEnough).
    rule(
      'DeadmanCheckFailing',
      |||
        (
            job_check:deadman_check_last_failure_timestamp_seconds:max
          > job_check:deadman_check_last_success_timestamp_seconds:max
        )
      ||| + failedEnough,
      "Deadman check's most recent run failed.",
      [
        '{{- $reason := "unknown" -}}',
        '{{- range printf `job_check_reason:deadman_check_last_failure_info:max{job=%q,check=%q}` $labels.job $labels.check | query -}}',
        '{{- $reason = .Labels.reason -}}',
        '{{- end -}}',
        alert.whoIs,
        'reported a failure for its most recent run (reason: {{ $reason }}{{ with printf `job_check:deadman_check_last_failure_exit_status:latest{job=%q,check=%q}` $labels.job $labels.check | query }}, exit status {{ . | first | value }}{{ end }}).'
        + '{{ with printf `job_check:deadman_check_failed_runs_since_last_success:count{job=%q,check=%q} > 1` $labels.job $labels.check | query }} It has failed at least {{ . | first | value }} runs in a row.{{ end }}',
        alert.lastSuccessFromValue + alert.checkPage,
      ],
    ),

    // Only checks that set max_runtime have the max_runtime series, so the
    // comparison drops every other check. See the recording rule for how
    // runs finished on another replica are excluded.
    rule(
      'DeadmanCheckRunningTooLong',
      |||
        (
            time() - job_check:deadman_check_oldest_run_start_timestamp_seconds:min
          > job_check:deadman_check_max_runtime_seconds:max
        )
      |||,
      'Deadman check run exceeds its max_runtime.',
      [
        alert.whoIs,
        'has a run that started',
        '{{ with printf `time() - job_check:deadman_check_oldest_run_start_timestamp_seconds:min{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | humanizeDuration }}{{ else }}an unknown time{{ end }}',
        'ago and has not finished, longer than its max_runtime of',
        '{{ with printf `job_check:deadman_check_max_runtime_seconds:max{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | humanizeDuration }}{{ else }}unknown{{ end }}.',
        alert.lastSuccessFromValue,
      ],
    ),

    // Still failing (newest failure newer than newest success) and the
    // failure is an authentication one: either the newest failure's reason
    // is "auth", or auth failures increased in the last hour (this second
    // branch still works when the reason is unknown because the replica
    // holding it is not scraped). increase() is taken per replica before
    // summing, so counter resets on restart are not miscounted; requiring
    // the check to still be failing means one auth failure that a later run
    // recovered from does not page. Alertmanager inhibits
    // DeadmanCheckFailing/Late for the same check while this fires. It
    // honours failure_threshold like DeadmanCheckFailing: an API answering
    // 401 once in a while is what a threshold is for.
    rule(
      'DeadmanCheckAuthFailing',
      promql.expr(config, |||
        (
            job_check:deadman_check_last_failure_timestamp_seconds:max
          > job_check:deadman_check_last_success_timestamp_seconds:max
        )
        and
        (
            max without (reason) (job_check_reason:deadman_check_last_failure_info:max{reason="auth"})
          or
            (
              sum %(withoutReason)s (
                increase(deadman_check_failures_total{%(sel)s, reason="auth"}[1h])
              ) > 0
            )
        )
      ||| + failedEnough, { withoutReason: promql.without(config, ['reason']) }),
      'Deadman check fails to authenticate; its credentials need renewing.',
      [
        alert.whoIs,
        'is failing with authentication errors (reason="auth"): the credentials it uses have',
        'probably expired, been rotated or been revoked, and retrying will not help.',
        alert.lastSuccessFromValue + alert.checkPage,
      ],
      {
        remediation: std.join(' ', [
          'Find which credential the job behind check {{ $labels.check }} uses (API token, OAuth',
          'refresh token, service-account key, password), check whether it expired or was revoked,',
          "issue a new one, update the job's secret store and re-run the job. The alert resolves",
          'after the next successful run.',
        ]),
      },
    ),
  ],
}
