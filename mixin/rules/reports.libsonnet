// Recording rules for what a run reports beyond success and failure:
// declared values ([[check.value]]), failed runs in a row
// (failure_threshold), the failure ratio (max_failure_ratio) and the last
// success's duration (min_runtime). Combined across replicas like the rest
// (rules.libsonnet): each replica only sees the pings sent to it.
local promql = import '../lib/promql.libsonnet';

{
  local config = $._config,
  local record(name, text) = promql.record(config, name, text),
  local configValue(name, metric) = promql.configValue(config, name, metric),

  // The series of the replica that holds the newest report of each value.
  local fromNewestReport(metric) = promql.fromNewest(
    config,
    metric,
    'deadman_check_value_timestamp_seconds',
    'job_check_name:deadman_check_value_timestamp_seconds:max',
  ),

  reportRecordingRules:: [
    // ---- Declared values, one series per value: {job, check, name}.

    // When each value was last reported, on any replica.
    record('job_check_name:deadman_check_value_timestamp_seconds:max', |||
      max %(without)s (
        max_over_time(deadman_check_value_timestamp_seconds{%(sel)s}[%(long)s])
      )
    |||),

    // The value itself: latest report wins across replicas. Not max: a
    // reconciliation that found 37 unmatched invoices on one replica and 0
    // an hour later on the other has 0 unmatched invoices.
    record('job_check_name:deadman_check_value:latest',
           fromNewestReport('deadman_check_value')),

    // When that report goes stale (its time plus the check's period and
    // grace, computed by the exporter): a value older than one run of the
    // check stops its alert, so a job that stopped reporting a value does
    // not keep an old incident open. The check itself still goes late.
    record('job_check_name:deadman_check_value_stale_timestamp_seconds:latest',
           fromNewestReport('deadman_check_value_stale_timestamp_seconds')),

    // Since when the newest report's replica has seen the value out of
    // range (present only while its last report is out of range): the
    // start of the value's own `for`.
    record('job_check_name:deadman_check_value_out_of_range_since_timestamp_seconds:latest',
           fromNewestReport('deadman_check_value_out_of_range_since_timestamp_seconds')),

    // Configured bounds and `for`: config values.
    configValue('job_check_name:deadman_check_value_min:max', 'deadman_check_value_min'),
    configValue('job_check_name:deadman_check_value_max:max', 'deadman_check_value_max'),
    configValue('job_check_name:deadman_check_value_for_seconds:max', 'deadman_check_value_for_seconds'),

    // The newest report, on any replica, whose value was in range.
    record('job_check_name:deadman_check_value_in_range_timestamp_seconds:max', |||
      max %(without)s (
          last_over_time(deadman_check_value_timestamp_seconds{%(sel)s}[%(long)s])
        unless
          (
              last_over_time(deadman_check_value{%(sel)s}[%(long)s])
            > %(ignoring)s group_left ()
              job_check_name:deadman_check_value_max:max
          )
        unless
          (
              last_over_time(deadman_check_value{%(sel)s}[%(long)s])
            < %(ignoring)s group_left ()
              job_check_name:deadman_check_value_min:max
          )
      )
    |||),

    // Since when the value is out of range, for the value's own `for`. Each
    // replica knows since when its own reports have been out of range; the
    // newest report's replica counts, but an in-range report on another
    // replica after that start resets it (37 on one replica, 0 on the
    // other, 40 on the first again: out of range since the 0, not since the
    // 37). The true start is the first out-of-range report after that 0,
    // which no replica knows, so with HA the `for` can end early by the gap
    // between the two reports; never late.
    record('job_check_name:deadman_check_value_out_of_range_since_timestamp_seconds:max', |||
      (
          job_check_name:deadman_check_value_out_of_range_since_timestamp_seconds:latest
        > job_check_name:deadman_check_value_in_range_timestamp_seconds:max
      )
      or
      (
          job_check_name:deadman_check_value_in_range_timestamp_seconds:max
        and
          job_check_name:deadman_check_value_out_of_range_since_timestamp_seconds:latest
      )
      or
      job_check_name:deadman_check_value_out_of_range_since_timestamp_seconds:latest
    |||),

    // ---- failure_threshold.

    // Failed runs since the last success. Each replica counts the failures
    // it saw since the last success it saw; the largest count is used by
    // the failed-runs record below only for checks that do not export
    // their failure times (failure_threshold = 1, or an exporter from
    // before they were exported), and for the dashboards.
    record('job_check:deadman_check_consecutive_failures:max', |||
      max %(without)s (
        last_over_time(deadman_check_consecutive_failures{%(sel)s}[%(long)s])
      )
    |||),

    // Failed runs since the newest success on any replica, exactly: every
    // replica exports the times of its newest failure_threshold failures
    // since its own last success (nth = 1, 2, ...), and the failures newer
    // than the newest success of the job are counted. A replica's own
    // count would include failures before a success that reached another
    // replica (fail, fail on A; success on B; fail on A is one failure in a
    // row, not three), and the largest count would miss failures split
    // between replicas. Each replica exports at most failure_threshold
    // times, so the count is exact up to the threshold (enough to decide
    // whether to page). last_over_time bridges scrape gaps; a replaced
    // replica's failures stay counted for memoryLong, and only while newer
    // than the newest success.
    {
      record: 'job_check:deadman_check_failed_runs_since_last_success:count',
      expr: promql.expr(config, |||
        count %(withoutNth)s (
            last_over_time(deadman_check_recent_failure_timestamp_seconds{%(sel)s}[%(long)s])
          > %(ignoringNth)s group_left ()
            job_check:deadman_check_last_success_timestamp_seconds:max
        )
        or
        job_check:deadman_check_consecutive_failures:max
      |||, {
        withoutNth: promql.without(config, ['nth']),
        ignoringNth: 'ignoring (%s)' % promql.labelList(config.haLabels + ['nth']),
      }),
    },
    configValue('job_check:deadman_check_failure_threshold:max', 'deadman_check_failure_threshold'),

    // The exit status of the newest failure (absent when it had none), from
    // the replica that recorded it: named in DeadmanCheckFailing's
    // description.
    record('job_check:deadman_check_last_failure_exit_status:latest', promql.fromNewest(
      config,
      'deadman_check_last_failure_exit_status',
      'deadman_check_last_failure_timestamp_seconds',
      'job_check:deadman_check_last_failure_timestamp_seconds:max',
      remember=false,
    )),

    // ---- max_failure_ratio: runs and failed runs in the check's
    // failure_ratio_window, counted by each replica for the runs it saw,
    // summed (like the volume window's records).
    record('job_check:deadman_check_failure_ratio_window_runs:sum', |||
      sum %(without)s (
        last_over_time(deadman_check_failure_ratio_window_runs{%(sel)s}[%(long)s])
      )
    |||),
    record('job_check:deadman_check_failure_ratio_window_failures:sum', |||
      sum %(without)s (
        last_over_time(deadman_check_failure_ratio_window_failures{%(sel)s}[%(long)s])
      )
    |||),
    configValue('job_check:deadman_check_max_failure_ratio:max', 'deadman_check_max_failure_ratio'),

    // ---- min_runtime: the duration of the newest success (from its start
    // ping), from the replica that recorded it. Absent when that success
    // had no start ping: a run that was never timed cannot be too short.
    record('job_check:deadman_check_last_success_duration_seconds:latest', promql.fromNewest(
      config,
      'deadman_check_last_success_duration_seconds',
      'deadman_check_last_success_timestamp_seconds',
      'job_check:deadman_check_last_success_timestamp_seconds:max',
    )),
    configValue('job_check:deadman_check_min_runtime_seconds:max', 'deadman_check_min_runtime_seconds'),
  ],
}
