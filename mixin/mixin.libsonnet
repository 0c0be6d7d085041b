// The deadman monitoring mixin: alerts, recording rules and Grafana
// dashboards generated from one `_config` (config.libsonnet).
//
//   prometheusRules    recording rules (groups deadman.checks)
//   prometheusAlerts   alerting rules (groups deadman.checks, deadman.exporter)
//   prometheusRuleGroups
//                      both, merged by group name with the recording rules
//                      first: load this one. The per-check alerts read the
//                      recording rules of the same evaluation only when they
//                      share a group; loaded as separate groups, every page
//                      comes up to one evaluation interval later.
//   grafanaDashboards  {'deadman-overview.json': ..., 'deadman-check.json': ...}
//
// scripts/generate-mixin renders them to alerts/deadman.rules.yml,
// dashboards/*.json and examples/kubernetes/prometheusrule.yaml.
(import 'config.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'rules/reports.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet') +
{
  prometheusRuleGroups:: {
    local rules = $.prometheusRules.groups,
    local alerts = $.prometheusAlerts.groups,
    local ruleNames = [g.name for g in rules],
    local names = ruleNames + [g.name for g in alerts if !std.member(ruleNames, g.name)],
    groups: [
      {
        name: name,
        rules: std.flattenArrays([g.rules for g in rules + alerts if g.name == name]),
      }
      for name in names
    ],
  },
}
