// Per-check volume alerts: too few records by their due, too many, and a
// sharp drop against the same hour last week. Gated on the exporter being
// up like the freshness alerts (lib/alert.libsonnet), so that an outage
// pages once, with DeadmanExporterDown, and they can use a short `for`.
// Their value is the quantity the description reports: records in the
// window, or a ratio.
local alert = import '../lib/alert.libsonnet';

{
  local config = $._config,
  local rule(name, value, severity, summary, description) =
    {
      alert: name,
      expr: alert.gated(config, name, value),
      labels: { severity: severity },
      annotations: {
        summary: summary,
        description: std.join(' ', description),
        runbook_url: alert.checkRunbook(config, name),
      },
    } + alert.timing(config, name),

  volumeAlerts:: [
    // "200 orders by 9am": the window holds fewer than min_records and the
    // due has passed (time() >= due).
    //  * Records are SUMMED across replicas, the due and min_records are
    //    their maxima (see the recording rules).
    //  * Calendar window reset (e.g. local midnight): records drop to 0 and
    //    the due moves to the next period in the same scrape, and the
    //    combined due follows the first replica that reset, so `due <=
    //    time()` is false from the reset on. A new period never pages before
    //    its own due; an alert still firing for the previous period resolves
    //    at the reset.
    //  * The due comes from the exporter, which computes it in the check's
    //    time zone: on a DST day "09:00 Europe/London" is 08:00 UTC and the
    //    alert follows it with nothing to configure here.
    //  * Rolling window: the due is first_configured + window, so a new
    //    check does not page before one full window has been observed.
    //  * The due is exported ahead of time, like a deadline, so the page
    //    comes within evaluation + `for` + group_wait of it.
    // Value: records counted in the window.
    rule(
      'DeadmanCheckVolumeLow',
      |||
        (
            job_check:deadman_check_window_records:sum
          < job_check:deadman_check_window_min_records:max
        )
        and
        (job_check:deadman_check_window_due_timestamp_seconds:max <= time())
      |||,
      alert.checkSeverity,
      'Deadman check received fewer records than its minimum by the time they were due.',
      [
        alert.whoIs,
        'has counted {{ humanize $value }} records in its current volume window, fewer than its minimum of',
        '{{ with printf `job_check:deadman_check_window_min_records:max{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | humanize }}{{ else }}unknown{{ end }},',
        'which was due',
        '{{ with printf `time() - job_check:deadman_check_window_due_timestamp_seconds:max{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | humanizeDuration }}{{ else }}an unknown time{{ end }}',
        'ago.',
        alert.lastSuccessQueried,
      ],
    ),

    // More than max_records in the current window (summed across
    // replicas): duplicate deliveries, a replayed backlog, a sync loop. Only
    // checks that set max_records have that series. No due: it can fire at
    // any time and resolves when the window resets or rolls back under the
    // maximum.
    // Value: records counted in the window.
    rule(
      'DeadmanCheckVolumeHigh',
      |||
        (
            job_check:deadman_check_window_records:sum
          > job_check:deadman_check_window_max_records:max
        )
      |||,
      alert.checkSeverity,
      'Deadman check received more records than its maximum.',
      [
        alert.whoIs,
        'has counted {{ humanize $value }} records in its current volume window, more than its maximum of',
        '{{ with printf `job_check:deadman_check_window_max_records:max{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | humanize }}{{ else }}unknown{{ end }}.',
        alert.lastSuccessQueried,
      ],
    ),

    // Week-over-week anomaly, for every check that reports records (with or
    // without a volume expectation): the last hour's records (summed across
    // replicas) are below `volumeDropFraction` of the same hour one week
    // earlier, for checks with at least `volumeDropMinBaseline` records in
    // that hour. The same hour of the same weekday follows daily and weekly
    // seasonality (nights, weekends) without configuration.
    // Severity is always warning, not the check's: this is a heuristic (bank
    // holidays, a planned migration, a batch that ran later than a week ago
    // all trip it), not an expectation the owner declared. Declared
    // expectations page with the check's severity (VolumeLow, Late).
    // `for: 15m`: rides out runs a few minutes off last week's timing, and
    // still fires within the hour for a flow that dried up. Checks that
    // report one big batch a day are better covered by VolumeLow.
    // Value: last hour / same hour last week (0.1 = 10%).
    rule(
      'DeadmanCheckVolumeDrop',
      |||
        (
            job_check:deadman_check_records:increase1h
          / job_check:deadman_check_records:increase1h_offset1w
        )
        < %(fraction)s
        and
        job_check:deadman_check_records:increase1h_offset1w >= %(baseline)s
      ||| % { fraction: config.volumeDropFraction, baseline: config.volumeDropMinBaseline },
      'warning',
      "Deadman check's records dropped sharply compared with the same hour last week.",
      [
        alert.whoIs,
        'reported',
        '{{ with printf `job_check:deadman_check_records:increase1h{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | printf "%.0f" }}{{ else }}an unknown number of{{ end }}',
        'records in the last hour, {{ humanizePercentage $value }} of the',
        '{{ with printf `job_check:deadman_check_records:increase1h_offset1w{job=%q,check=%q}` $labels.job $labels.check | query }}{{ . | first | value | printf "%.0f" }}{{ else }}unknown number{{ end }}',
        'it reported in the same hour one week ago.',
        alert.lastSuccessQueried,
      ],
    ),
  ],
}
