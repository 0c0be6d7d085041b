// Building blocks shared by every per-check alert: the outage gate, the
// owner join, the annotation sentences and the runbook.
local promql = import 'promql.libsonnet';

{
  // `text` with every line but the first indented by `n` spaces, so that a
  // multi-line PromQL fragment can be placed inside another one.
  indent(text, n)::
    local pad = std.repeat(' ', n);
    local lines = std.split(std.rstripChars(text, '\n'), '\n');
    std.join('\n', [lines[0]] + [pad + l for l in lines[1:]]),

  // `text` with every line indented by `n` spaces.
  indentAll(text, n):: std.repeat(' ', n) + self.indent(text, n),

  // Seconds since the check's last success across all replicas, or -1 if it
  // has never succeeded: the value of the freshness alerts, which the
  // descriptions turn into "last succeeded 3h 4m 0s ago" / "has never
  // succeeded".
  sinceSuccess:: |||
    (
        time() - (job_check:deadman_check_last_success_timestamp_seconds:max > 0)
      or
        job_check:deadman_check_last_success_timestamp_seconds:max - 1
    )
  |||,

  // `value` (a per-check series whose value is the alert's value) joined
  // with the check's owner, team, severity and runbook_url.
  withOwner(value):: |||
    (
    %s
    )
    * on (check) group_left (owner, team, severity, runbook_url)
      check:deadman_check_info:max
  ||| % self.indentAll(value, 2),

  // A per-check alert gated on the exporter being scraped right now (any
  // replica up):
  //     (
  //         <value, owner-joined>
  //       and on (check)
  //         (<info> while any replica is up  or  its own firing ALERTS while none is)
  //     )
  //     or on (check)
  //       its own firing ALERTS (labels minus alertname and alertstate,
  //       value 1) while none is up
  // While no replica is up -- up == 0 for every one, or no up series at
  // all once service discovery dropped the targets -- nothing new can
  // become pending or fire, so a total outage pages once, with
  // DeadmanExporterDown/Absent, not once per check: not for checks whose
  // deadline passes during the outage, and not for one whose deadline passes
  // seconds after the death (the race: `up` turns 0 at the first failed
  // scrape, and an alert that became pending just before needs one more
  // evaluation, `for` > scrape_interval + scrape_timeout, by which time the
  // gate has dropped it). Alerts already firing keep firing (no false
  // "resolved"): with their usual value while the rules still remember the
  // replicas' series (memoryLong), and value 1 after that, through the
  // last branch. `or on (check)` keeps one series per check; the labels of
  // an ALERTS series are the alert's own, so the alert keeps its identity
  // (and activation time) across the branches.
  // `by` are the labels that identify one alert: the check, and for
  // alerts about one part of a check (a declared value) that part too;
  // `identity` is a series with exactly one element per such alert.
  gated(config, alert, value, by=['check'], identity='check:deadman_check_info:max')::
    promql.expr(config, |||
      (
          %(value)s
        and on (%(by)s)
          (
              (%(identity)s and on () (max(up{%(sel)s}) == 1))
            or on (%(by)s)
              (
                  ALERTS{alertname="%(alert)s", alertstate="firing", %(sel)s}
                unless on ()
                  (max(up{%(sel)s}) == 1)
              )
          )
      )
      or on (%(by)s)
        (
            max without (alertname, alertstate) (
              ALERTS{alertname="%(alert)s", alertstate="firing", %(sel)s}
            )
          unless on ()
            (max(up{%(sel)s}) == 1)
        )
    |||, { alert: alert, value: $.indent($.withOwner(value), 4), by: promql.labelList(by), identity: identity }),

  // A freshness-style per-check alert: its value is seconds since the last
  // success, present while `condition` holds; gated as above.
  gatedSinceSuccess(config, alert, condition)::
    self.gated(
      config,
      alert,
      std.join('\n', [
        self.indentAll(self.sinceSuccess, 2),
        'and',
        self.indentAll(condition, 2),
      ])
    ),

  // The check's severity label, or critical when it sets none.
  checkSeverity:: '{{ if $labels.severity }}{{ $labels.severity }}{{ else }}critical{{ end }}',

  // "Check X (owner Y, team Z)".
  whoIs:: 'Check {{ $labels.check }} (owner {{ or $labels.owner "unset" }}{{ with $labels.team }}, team {{ . }}{{ end }})',

  // The last success, from the alert's value (sinceSuccess).
  lastSuccessFromValue:: '{{ if lt $value 0.0 }}It has never succeeded.{{ else }}It last succeeded {{ humanizeDuration $value }} ago.{{ end }}',

  // The last success, queried (for alerts whose value is something else).
  lastSuccessQueried:: '{{ with printf `time() - (job_check:deadman_check_last_success_timestamp_seconds:max{job=%q,check=%q} > 0)` $labels.job $labels.check | query }}It last succeeded {{ . | first | value | humanizeDuration }} ago.{{ else }}It has never succeeded.{{ end }}',

  // " Its last failure message and ping history: <the check's page>." when
  // deadman runs with --web.external-url (the `url` label of
  // deadman_check_info); nothing otherwise.
  checkPage:: '{{ range printf `max by (url) (deadman_check_info{job=%q,check=%q,url!=""})` $labels.job $labels.check | query }} Its last failure message and ping history: {{ .Labels.url }}{{ end }}',

  // The check's own runbook_url, or the README anchor of the alert.
  checkRunbook(config, alert)::
    '{{ if $labels.runbook_url }}{{ $labels.runbook_url }}{{ else }}%s{{ end }}' % promql.runbook(config, alert),

  // Alert fields every rule has: `for` (and `keep_firing_for`) from the
  // config, so that no duration is written twice.
  timing(config, alert)::
    { 'for': config.alertFor[alert] }
    + (if std.objectHas(config.alertKeepFiringFor, alert)
       then { keep_firing_for: config.alertKeepFiringFor[alert] }
       else {}),
}
