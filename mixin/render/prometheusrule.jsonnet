// examples/kubernetes/prometheusrule.yaml: the same groups as
// alerts/deadman.rules.yml, as a prometheus-operator PrometheusRule.
function(overrides={})
  local mixin = (import '../mixin.libsonnet') + overrides;
  std.manifestYamlDoc({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'deadman',
      namespace: mixin._config.prometheusRuleNamespace,
      labels: mixin._config.prometheusRuleLabels,
    },
    spec: mixin.prometheusRuleGroups,
  }, indent_array_in_object=true, quote_keys=false)
