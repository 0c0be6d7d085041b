"""How Prometheus reaches deadman: the Service, the ServiceMonitor and
the PrometheusRule rendered from the mixin."""

import yaml

from .manifests import as_dict, as_list, dig, first_difference, selector_matches


class Routing:
    """Checks on the path from Prometheus to deadman and back to its rules."""

    def check_services(self, servers):
        pods = [(doc, template) for doc, template, _ in self.pod_templates()]
        fronted = {}
        for svc in self.of_kind("Service"):
            selector = as_dict(dig(svc.obj, "spec", "selector"))
            if not selector:
                self.fail(svc, "spec.selector", "missing: the Service would have no endpoints")
                continue
            matching = [(d, t) for d, t in pods if d.namespace == svc.namespace and d.kind != "CronJob"
                        and selector_matches({"matchLabels": selector}, as_dict(dig(t, "metadata", "labels")))]
            if not matching:
                self.fail(svc, "spec.selector", f"{selector} matches no pod template in namespace {svc.namespace}")
                continue
            for d, _ in matching:
                self.refs.append((svc, d.key))
            ports = as_list(dig(svc.obj, "spec", "ports"))
            if len(ports) > 1 and not all(p.get("name") for p in ports):
                self.fail(svc, "spec.ports", "several ports, so every one needs a name")
            for p in ports:
                target = p.get("targetPort", p.get("port"))
                pf = f"spec.ports[{p.get('name') or p.get('port')}].targetPort"
                for d, t in matching:
                    numbers = {}
                    for _, c in self.containers(t):
                        for cp in as_list(c.get("ports")):
                            numbers[cp.get("containerPort")] = c
                            if cp.get("name"):
                                numbers[cp.get("name")] = c
                    if target not in numbers:
                        self.fail(svc, pf, f"{target!r} is no container port of {d.where()}")
                        continue
                    for srv in servers:
                        if srv["doc"] is d and numbers[target] is srv["container"]:
                            number = srv["port_names"].get(target, target)
                            if number not in srv["reachable"]:
                                self.fail(svc, pf, f"{target!r} is port {number}, which deadman does not listen on "
                                          f"(--web.listen-address: {sorted(srv['reachable'])})")
                            fronted.setdefault(svc.key, []).append((srv, p))
        return fronted

    def check_service_monitors(self, servers, fronted, job):
        monitors = self.of_kind("ServiceMonitor")
        interval, interval_source = self.scrape_interval()
        if not monitors:
            self.fail(self.kdisplay, "", "no ServiceMonitor: nothing makes prometheus-operator scrape deadman")
        for sm in monitors:
            spec = as_dict(sm.obj.get("spec"))
            selector = spec.get("selector")
            if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
                self.fail(sm, "spec.selector", "missing or empty")
                continue
            ns_sel = as_dict(spec.get("namespaceSelector"))
            if ns_sel.get("any"):
                namespaces = None
            elif ns_sel.get("matchNames"):
                namespaces = set(ns_sel["matchNames"])
            else:
                namespaces = {sm.namespace}
            by_labels = [s for s in self.of_kind("Service") if selector_matches(selector, s.labels)]
            services = [s for s in by_labels if namespaces is None or s.namespace in namespaces]
            if not services:
                if by_labels:
                    self.fail(sm, "spec.namespaceSelector", f"covers {sorted(namespaces)}, not the namespace of "
                              f"{', '.join(s.where() for s in by_labels)}")
                else:
                    self.fail(sm, "spec.selector", f"{selector} matches the labels of no Service")
                continue
            for s in services:
                self.refs.append((sm, s.key))
                if s.key not in fronted:
                    self.fail(sm, "spec.selector", f"selects {s.where()}, which fronts no deadman container")
            job_label = spec.get("jobLabel")
            jobs = {s.name if not job_label else s.labels.get(job_label, s.name): s for s in services}
            if len(services) > 1:
                self.fail(sm, "spec.selector", f"selects {len(services)} Services ({', '.join(s.name for s in services)}): "
                          "each is scraped as its own job, the pods twice")
            if job is not None and job not in jobs:
                how = f"the Service's label {job_label!r}" if job_label else "the Service's name"
                self.fail(sm, "spec.selector", f"its targets get job={sorted(jobs)} ({how}), but alerts/deadman.rules.yml "
                          f"selects job={job!r}: no rule would see deadman")
            endpoints = as_list(spec.get("endpoints"))
            if not endpoints:
                self.fail(sm, "spec.endpoints", "missing")
            for i, ep in enumerate(endpoints):
                ef = f"spec.endpoints[{i}]"
                port = ep.get("port")
                if port is None:
                    self.fail(sm, f"{ef}.port", "missing: name the Service's port")
                    continue
                for s in services:
                    names = [p.get("name") for p in as_list(dig(s.obj, "spec", "ports"))]
                    if port not in names:
                        self.fail(sm, f"{ef}.port", f"{port!r} is no port name of {s.where()} (ports: {', '.join(map(str, names))})")
                        continue
                    for srv, sp in fronted.get(s.key, []):
                        if sp.get("name") == port:
                            path = ep.get("path", "/metrics")
                            if path != srv["telemetry"]:
                                self.fail(sm, f"{ef}.path", f"is {path!r}; deadman serves metrics at {srv['telemetry']}")
                            if ep.get("scheme", "http") != "http" and not srv["web_config"]:
                                self.fail(sm, f"{ef}.scheme", "deadman serves plain http here (no --web.config.file)")
                if ep.get("interval") != interval:
                    self.fail(sm, f"{ef}.interval", f"is {ep.get('interval')!r}; the rules' timing assumes {interval} "
                              f"({interval_source})")
                for kind in ("relabelings", "metricRelabelings"):
                    for j, r in enumerate(as_list(ep.get(kind))):
                        if r.get("targetLabel") in ("job", "instance", "pod"):
                            self.fail(sm, f"{ef}.{kind}[{j}].targetLabel", f"rewrites {r['targetLabel']}, which the rules "
                                      "select on (job) or tell replicas apart by (instance, pod)")
        return monitors

    def check_prometheus_rules(self, monitors):
        rules = self.of_kind("PrometheusRule")
        source = self.root / "alerts" / "deadman.rules.yml"
        if not rules:
            self.fail(f"{self.kdisplay}/", "PrometheusRule", "none found (prometheusrule.yaml is rendered by scripts/generate-mixin)")
            return
        expected = yaml.safe_load(source.read_text()).get("groups")
        for pr in rules:
            groups = dig(pr.obj, "spec", "groups")
            if not isinstance(groups, list):
                self.fail(pr, "spec.groups", "missing")
                continue
            diff = first_difference(groups, expected)
            if diff:
                self.fail(pr, "spec.groups", f"differs from alerts/deadman.rules.yml (render both from the mixin): {diff}")
            for sm in monitors:
                if sm.namespace != pr.namespace:
                    self.fail(pr, "metadata.namespace", f"is {pr.namespace!r}, the ServiceMonitor's is {sm.namespace!r}: "
                              "one Prometheus picks both up")
                missing = {k: v for k, v in pr.labels.items()
                           if not str(k).startswith("app.kubernetes.io/") and sm.labels.get(k) != v}
                if missing:
                    self.fail(sm, "metadata.labels", f"lacks {missing}, which the PrometheusRule carries for the "
                              "Prometheus's ruleSelector: its serviceMonitorSelector most likely needs them too")
        self.summary.append(f"PrometheusRule groups = alerts/deadman.rules.yml ({len(expected)} groups)")
