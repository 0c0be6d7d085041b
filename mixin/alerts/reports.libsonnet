// Alerts on what a run reports: a declared value out of range, too many
// failed runs in the failure-ratio window, a success that ran too short.
// Gated on the exporter being up like every per-check alert
// (lib/alert.libsonnet); a paused check has no info series, so none of
// these fires for it.
local alert = import '../lib/alert.libsonnet';

{
  local config = $._config,
  local rule(name, expr, summary, description) =
    {
      alert: name,
      expr: expr,
      labels: { severity: alert.checkSeverity },
      annotations: {
        summary: summary,
        description: std.join(' ', description),
        runbook_url: alert.checkRunbook(config, name),
      },
    } + alert.timing(config, name),

  local valueQuery(recording) =
    '{{ with printf `%s{job=%%q,check=%%q,name=%%q}` $labels.job $labels.check $labels.name | query }}{{ . | first | value | humanize }}{{ else }}unset{{ end }}' % recording,

  reportAlerts:: [
    // A declared value ([[check.value]]) is outside its min/max: the
    // reconciliation found 37 unmatched invoices (max = 0), the dead-letter
    // queue holds 500 messages. One alert per value (labels check and
    // name).
    //  * The newest report across replicas counts (rules/reports.libsonnet).
    //  * Stale values do not page: once the newest report is older than the
    //    check's period + grace (the exporter's stale time), the alert
    //    resolves; the check goes late instead if it stopped running.
    //  * The value's own `for` (how long it may stay out of range) is
    //    measured from the first of the current run of out-of-range reports,
    //    so it survives restarts; a value without `for` pages at once.
    // Value: the reported value.
    rule(
      'DeadmanCheckValueOutOfRange',
      alert.gated(config, 'DeadmanCheckValueOutOfRange', |||
        (
            (
                job_check_name:deadman_check_value:latest
              > job_check_name:deadman_check_value_max:max
            )
          or
            (
                job_check_name:deadman_check_value:latest
              < job_check_name:deadman_check_value_min:max
            )
        )
        and
          (job_check_name:deadman_check_value_stale_timestamp_seconds:latest > time())
        and
          (
              time() - job_check_name:deadman_check_value_out_of_range_since_timestamp_seconds:max
            >=
              (
                  job_check_name:deadman_check_value_for_seconds:max
                or
                  job_check_name:deadman_check_value:latest * 0
              )
          )
      |||, by=['check', 'name'], identity='job_check_name:deadman_check_value_timestamp_seconds:max'),
      "A value reported by a deadman check's run is out of its declared range.",
      [
        '{{- $description := "" -}}',
        '{{- range printf `deadman_check_value_info{job=%q,check=%q,name=%q}` $labels.job $labels.check $labels.name | query -}}',
        '{{- $description = .Labels.description -}}',
        '{{- end -}}',
        alert.whoIs,
        'reported {{ $labels.name }} = {{ humanize $value }}{{ with $description }} ({{ . }}){{ end }},',
        'outside its declared range (min ' + valueQuery('job_check_name:deadman_check_value_min:max')
        + ', max ' + valueQuery('job_check_name:deadman_check_value_max:max') + ').',
        alert.lastSuccessQueried,
      ],
    ),

    // Flaky integrations that never fail twice in a row: more than
    // max_failure_ratio of the runs in failure_ratio_window failed (runs
    // and failures summed across replicas). At least 2 failures: a single
    // failed run is DeadmanCheckFailing's, not a rate.
    // Value: failed runs / runs in the window.
    rule(
      'DeadmanCheckFailureRateHigh',
      alert.gated(config, 'DeadmanCheckFailureRateHigh', |||
        (
            job_check:deadman_check_failure_ratio_window_failures:sum
          / job_check:deadman_check_failure_ratio_window_runs:sum
        )
        > job_check:deadman_check_max_failure_ratio:max
        and
          job_check:deadman_check_failure_ratio_window_failures:sum >= 2
      |||),
      "Too many of a deadman check's recent runs failed.",
      [
        alert.whoIs,
        'failed {{ humanizePercentage $value }} of its runs in its failure-ratio window',
        '({{ with printf `job_check:deadman_check_failure_ratio_window_failures:sum{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | printf "%.0f" }}{{ end }}',
        'of {{ with printf `job_check:deadman_check_failure_ratio_window_runs:sum{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | printf "%.0f" }}{{ end }}),',
        'more than its max_failure_ratio of',
        '{{ with printf `job_check:deadman_check_max_failure_ratio:max{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | humanizePercentage }}{{ end }}.',
        alert.lastSuccessQueried,
      ],
    ),

    // "A backup that finishes in 2 seconds did not back anything up": the
    // most recent run succeeded (newest success newer than newest failure)
    // faster than min_runtime. Only timed runs count (a success with a start
    // ping); it resolves at the next success of normal length, or turns
    // into DeadmanCheckFailing at the next failure.
    // Value: the run's duration in seconds.
    rule(
      'DeadmanCheckRanTooShort',
      alert.gated(config, 'DeadmanCheckRanTooShort', |||
        (
            job_check:deadman_check_last_success_duration_seconds:latest
          < job_check:deadman_check_min_runtime_seconds:max
        )
        and
          (
              job_check:deadman_check_last_success_timestamp_seconds:max
            > job_check:deadman_check_last_failure_timestamp_seconds:max
          )
      |||),
      "A deadman check's last successful run finished suspiciously fast.",
      [
        alert.whoIs,
        'reported success for a run that took {{ humanizeDuration $value }}, less than its min_runtime of',
        '{{ with printf `job_check:deadman_check_min_runtime_seconds:max{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | humanizeDuration }}{{ else }}unknown{{ end }}:',
        'a run that fast probably did nothing (an empty source, a skipped step, a wrong filter).',
        alert.lastSuccessQueried,
      ],
    ),
  ],
}
