// Recording rules: every per-check quantity combined across replicas, for
// the alerts (alerts/checks.libsonnet) and the dashboards.
//
// High availability. Two or more replicas (told apart by `_config.haLabels`:
// `instance`, and `pod` on Kubernetes) can be scraped under the same job.
// Each replica only sees the pings that the load balancer sent to it, so
// every per-check quantity is combined across replicas first:
//   * timestamps and deadlines with max/min without (instance, pod),
//   * counters with sum without (instance, pod) (rate/increase per replica
//     first, so one replica's counter reset is not seen as a drop),
//   * window record counts (a gauge, but each replica counts only its own
//     pings) with sum without (instance, pod),
//   * volume due times, min/max records and expiries with max.
// A check pinged on any replica is therefore not late.
//
// Restarts and scrape gaps. When a scrape fails or a replica goes away,
// Prometheus writes staleness markers and that replica's series vanish from
// instant queries at once. If that replica held the newest success, the
// others would suddenly look late or failing. The rules therefore read
// per-replica series through max_over_time/last_over_time windows (range
// functions skip staleness markers), which remember a vanished replica's
// last values: `memoryLong` (1h) for success/failure timestamps, deadlines,
// metadata, window record counts, volume due times and expiries (long
// enough for restarts, rescheduling and Prometheus restarts, short enough
// that a config change is never masked for long), `memoryShort` (10m) for
// run state and max_runtime. Configuration values (metadata, min/max
// records, warn_before) are remembered only while no replica of the job is
// up. Counters only go through increase(), which handles resets.
//
// Names follow the level:metric:operations convention.
local promql = import '../lib/promql.libsonnet';

{
  local config = $._config,
  local record(name, text) = promql.record(config, name, text),
  local configValue(name, metric) = promql.configValue(config, name, metric),

  // Read by the alerts of alerts/checks.libsonnet, volume.libsonnet and
  // expiry.libsonnet; rules/reports.libsonnet adds its own after these.
  checkRecordingRules:: [
    // One metadata series per check: {check, owner, team, severity,
    // runbook_url} = 1.
    //  * `max by` keeps only the labels the alerts need. description,
    //    schedule and the static labels are dropped, so a rollout that
    //    changes a description (replicas briefly disagreeing) cannot
    //    create two series for one check. Two series for one check would
    //    make every `group_left` join fail with "many-to-many matching"
    //    and drop every per-check alert, for every check.
    //  * `topk by (check) (1, ...)` is the last safeguard for that: if
    //    replicas disagree on owner/team/severity/runbook_url during a
    //    rollout, one of the series is kept (chosen consistently)
    //    instead of breaking the join.
    //  * Live info wins. Only when no replica of the job is up (exporter
    //    restart, scrape failure) is the info last seen in the past hour
    //    used, so a short gap does not resolve and re-fire firing alerts
    //    (which would restart their `for`). While any replica is up, a
    //    check removed from the config disappears at once and cannot
    //    page.
    //  * A paused check (`paused`, or before `paused_until`) has no info
    //    series, so no per-check alert of it can fire: every one joins
    //    this. Each replica's newest pause gauge counts (so a pause that
    //    ends, or is removed, takes effect at once), and a check paused
    //    on any replica is paused (a rollout pausing it pauses it).
    record('check:deadman_check_info:max', |||
      topk by (check) (1,
          max by (check, owner, team, severity, runbook_url) (deadman_check_info{%(sel)s})
        or on (check)
          (
              max by (check, owner, team, severity, runbook_url) (
                last_over_time(deadman_check_info{%(sel)s}[%(long)s])
              )
            unless on ()
              (up{%(sel)s} == 1)
          )
      )
      unless on (check)
        (max by (check) (last_over_time(deadman_check_paused{%(sel)s}[%(short)s])) == 1)
    |||),

    // Newest success / failure across replicas. These timestamps only
    // ever grow (a success at time T stays true even if a replica later
    // loses its state), so max_over_time is exact and remembers a
    // replica whose series went stale (restart, scrape failure).
    record('job_check:deadman_check_last_success_timestamp_seconds:max', |||
      max %(without)s (
        max_over_time(deadman_check_last_success_timestamp_seconds{%(sel)s}[%(long)s])
      )
    |||),
    record('job_check:deadman_check_last_failure_timestamp_seconds:max', |||
      max %(without)s (
        max_over_time(deadman_check_last_failure_timestamp_seconds{%(sel)s}[%(long)s])
      )
    |||),

    // The check's deadline across replicas.
    //  * Replicas that have recorded a success compute their deadline
    //    from it; the newest one wins (max).
    //  * If no replica has recorded a success, every deadline counts from
    //    when that replica first loaded the check, so the earliest one
    //    (min) wins. A replica added later, or one that lost its storage,
    //    must not postpone the deadline of a check that is already
    //    overdue.
    //  * last_over_time (not max_over_time) keeps a vanished replica's
    //    deadline but always uses each replica's newest value, so
    //    shortening a check's period or grace takes effect at once.
    //  * A replica whose last_success went back to 0 (lost state) is
    //    counted as "never succeeded" and cannot push the deadline later.
    record('job_check:deadman_check_deadline_timestamp_seconds:max', |||
      (
        max %(without)s (
            last_over_time(deadman_check_deadline_timestamp_seconds{%(sel)s}[%(long)s])
          and
            (last_over_time(deadman_check_last_success_timestamp_seconds{%(sel)s}[%(long)s]) > 0)
        )
      )
      or
      (
        min %(without)s (
          last_over_time(deadman_check_deadline_timestamp_seconds{%(sel)s}[%(long)s])
        )
      )
    |||),

    // Reason of the newest failure across replicas: the
    // last_failure_info of the replica(s) whose last failure equals the
    // newest one. If that replica is currently not scraped, the reason
    // is unknown rather than an older reason from another replica. Used
    // by the descriptions and by DeadmanCheckAuthFailing.
    record('job_check_reason:deadman_check_last_failure_info:max', promql.fromNewest(
      config,
      'deadman_check_last_failure_info',
      'deadman_check_last_failure_timestamp_seconds',
      'job_check:deadman_check_last_failure_timestamp_seconds:max',
      remember=false,
      matching=' ignoring (reason)',
    )),

    // Start time of the oldest run that is really still running. With
    // several replicas, a run's /start ping and its finishing ping can
    // land on different replicas, so the replica that saw the start never
    // sees the run finish. A started run is therefore only counted while
    // no run has finished (success or failure, on any replica) after it
    // started. Known limitation: a hung run is not reported while later,
    // overlapping runs keep finishing; DeadmanCheckLate/Failing still
    // cover the check itself. last_over_time(...[memoryShort]) bridges
    // scrape gaps and restarts; its newest value is 0 once the run
    // finished, so finished runs are not remembered.
    record('job_check:deadman_check_oldest_run_start_timestamp_seconds:min', |||
      min %(without)s (
          (last_over_time(deadman_check_oldest_run_start_timestamp_seconds{%(sel)s}[%(short)s]) > 0)
        > %(ignoring)s group_left ()
          (
              (
                  job_check:deadman_check_last_success_timestamp_seconds:max
                > job_check:deadman_check_last_failure_timestamp_seconds:max
              )
            or
              job_check:deadman_check_last_failure_timestamp_seconds:max
          )
      )
    |||),

    // Configured max_runtime (only present for checks that set it). The
    // newest value of each replica, so changing max_runtime takes effect
    // at once; memoryShort so that removing max_runtime from a check
    // stops RunningTooLong quickly.
    record('job_check:deadman_check_max_runtime_seconds:max', |||
      max %(without)s (
        last_over_time(deadman_check_max_runtime_seconds{%(sel)s}[%(short)s])
      )
    |||),

    // ---- Volume expectations (checks with a [check.volume] only; other
    // checks have none of these series, so every rule drops them).

    // Records counted in the check's current window, across replicas.
    //  * SUM, not max: each replica counts only the pings the load
    //    balancer sent to it, so the check's real count is the sum of the
    //    replicas' counts (120 on one + 90 on the other = 210).
    //  * last_over_time(...[memoryLong]) remembers a replica whose series
    //    went stale (restart, scrape failure), like the deadlines:
    //    without it, its share would vanish from the sum and the check
    //    could turn "low" just because a replica was briefly not
    //    scraped. The newest value is always used, so a window reset (0)
    //    is seen at once.
    //  * Known limitations: a replica removed for good keeps contributing
    //    its last count for that hour, and one that is not scraped across
    //    a calendar reset keeps its pre-reset count until it is scraped
    //    again (at most that hour). Both can only make the count look
    //    higher: VolumeLow is not affected at a reset (the due has moved
    //    on, see below); VolumeHigh could fire early only if the new
    //    period's records plus the stale count exceed max_records.
    record('job_check:deadman_check_window_records:sum', |||
      sum %(without)s (
        last_over_time(deadman_check_window_records{%(sel)s}[%(long)s])
      )
    |||),

    // When the minimum must have been met, across replicas.
    //  * MAX: a calendar window resets on every replica at the same local
    //    instant (records back to 0, due moves to the next period), but
    //    Prometheus sees the replicas' resets one scrape apart, and a
    //    replica that is not being scraped across the reset is
    //    remembered with yesterday's due. max takes the newest period as
    //    soon as any replica is in it, so a reset count is never compared
    //    with the previous period's (past) due: the reset cannot page.
    //  * last_over_time (not max_over_time): remembers a vanished replica
    //    like the deadlines, but always uses each replica's newest value,
    //    so the due moves at once at a reset or when the config changes.
    //  * Known limitation: a replica that first configures the check
    //    after the current period began (added later, or with lost
    //    storage) moves the due of the current window to the next one
    //    (rolling window: one window after it started), like a new check.
    record('job_check:deadman_check_window_due_timestamp_seconds:max', |||
      max %(without)s (
        last_over_time(deadman_check_window_due_timestamp_seconds{%(sel)s}[%(long)s])
      )
    |||),

    // Configured min_records / max_records (max_records only where set):
    // config values, see configValue above.
    configValue('job_check:deadman_check_window_min_records:max', 'deadman_check_window_min_records'),
    configValue('job_check:deadman_check_window_max_records:max', 'deadman_check_window_max_records'),

    // Records in the last hour, and in the same hour one week earlier,
    // for DeadmanCheckVolumeDrop and the dashboards. Every check has the
    // counter. increase() per replica first, then sum (counter resets of
    // one replica are not seen as drops). The baseline is computed from
    // the raw counter with `offset 1w`, not from this rule's own history,
    // so it works from the day the rules are loaded (needs >= 1w 1h
    // retention).
    record('job_check:deadman_check_records:increase1h', |||
      sum %(without)s (
        increase(deadman_check_records_total{%(sel)s}[1h])
      )
    |||),
    record('job_check:deadman_check_records:increase1h_offset1w', |||
      sum %(without)s (
        increase(deadman_check_records_total{%(sel)s}[1h] offset 1w)
      )
    |||),

    // ---- Expiries, one series per declared [[check.expiry]]:
    // {job, check, name, kind}.

    // warn_before, present for every declared expiry: a config value
    // (an expiry removed from the config stops alerting at once;
    // restarts and scrape gaps do not resolve and re-fire).
    configValue('job_check_name_kind:deadman_expiry_warn_before_seconds:max', 'deadman_expiry_warn_before_seconds'),

    // When it expires, across replicas (only present when known).
    //  * MAX: the integration reports the expiry on each run, and each
    //    replica only sees the runs sent to it. After a credential is
    //    renewed, the replica that received the next run knows the new,
    //    later expiry while the others still hold the old one; the newest
    //    knowledge must win, or a renewed credential would keep paging.
    //    Known limitation: a replica that has not seen any run reports
    //    the configured `at`, which wins if it is later than a reported
    //    value.
    //  * last_over_time, like the deadlines, remembers a replica that is
    //    briefly not scraped.
    //  * `and` the declared expiries above: a remembered value of an
    //    expiry removed from the config does not linger.
    record('job_check_name_kind:deadman_expiry_timestamp_seconds:max', |||
      (
        max %(without)s (
          last_over_time(deadman_expiry_timestamp_seconds{%(sel)s}[%(long)s])
        )
      )
      and
      job_check_name_kind:deadman_expiry_warn_before_seconds:max
    |||),
  ],

  prometheusRules+:: {
    groups+: [{
      // The alerts of deadman.checks are in the same group (see
      // mixin.libsonnet), after these, so they read values computed at the
      // same evaluation timestamp. Rules are evaluated in order: a rule that
      // reads another comes after it.
      name: 'deadman.checks',
      rules: $.checkRecordingRules + $.reportRecordingRules,
    }],
  },
}
