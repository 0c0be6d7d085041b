// alerts/deadman.rules.yml: every group, recording rules first.
// `overrides` is the user's own addition to the mixin (scripts/generate-mixin
// --config FILE); the default render uses none.
function(overrides={})
  local mixin = (import '../mixin.libsonnet') + overrides;
  std.manifestYamlDoc(mixin.prometheusRuleGroups, indent_array_in_object=true, quote_keys=false)
