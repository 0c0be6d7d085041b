"""Tests for scripts/check-kubernetes: the shipped manifests pass, and each
reference rule, broken once in a temporary copy, is reported with its
message.

  python3 -m unittest discover -s scripts/tests -p 'test_check_kubernetes.py'

Needs PyYAML. The tests that run `deadman check-config` need a built
binary ($DEADMAN_BIN, or target/{release,debug}/deadman) and are skipped
without one; the schema tests need kubernetes-validate.
"""
import contextlib
import importlib.machinery
import importlib.util
import io
import shutil
import tempfile
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_loader = importlib.machinery.SourceFileLoader("check_kubernetes", str(ROOT / "scripts" / "check-kubernetes"))
_spec = importlib.util.spec_from_loader("check_kubernetes", _loader)
ck = importlib.util.module_from_spec(_spec)
_loader.exec_module(ck)

BINARY = ck.find_binary(ROOT)
try:
    import kubernetes_validate  # noqa: F401
    HAVE_SCHEMAS = True
except ImportError:
    HAVE_SCHEMAS = False

# What the checker reads outside examples/kubernetes/.
REPO_FILES = [
    "alerts/deadman.rules.yml",
    "mixin/config.libsonnet",
    "Dockerfile",
    "examples/prometheus.yml",
    "src/main.rs",
    "src/web/server.rs",
]


class CheckKubernetesTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="check-kubernetes-test-")
        self.root = Path(self._tmp.name)
        for rel in REPO_FILES:
            if (ROOT / rel).exists():
                (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / rel, self.root / rel)
        self.dir = self.root / "examples" / "kubernetes"
        shutil.copytree(ROOT / "examples" / "kubernetes", self.dir)

    def tearDown(self):
        self._tmp.cleanup()

    # -- helpers ---------------------------------------------------------

    def check(self, binary=False, schema=False):
        args = ["--root", str(self.root), "--dir", str(self.dir)]
        if binary:
            args += ["--deadman", str(BINARY)]
        else:
            args.append("--skip-binary")
        if not schema:
            args.append("--skip-schema")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = ck.main(args)
        return code, out.getvalue()

    def assertPasses(self, **kwargs):
        code, out = self.check(**kwargs)
        self.assertEqual(code, 0, out)
        self.assertNotIn("FAIL", out)
        return out

    def assertFails(self, *expected, **kwargs):
        code, out = self.check(**kwargs)
        self.assertEqual(code, 1, out)
        fails = [line for line in out.splitlines() if line.startswith("FAIL: ")]
        for text in expected:
            self.assertTrue(any(text in line for line in fails), f"no FAIL line with {text!r} in:\n{out}")
        return fails

    def docs(self, name):
        return [d for d in yaml.safe_load_all((self.dir / name).read_text()) if d is not None]

    def edit(self, name, change, index=0):
        """Loads `name`, lets `change` edit its document `index` in place,
        writes it back (comments are lost; the copy is temporary)."""
        docs = self.docs(name)
        change(docs[index])
        (self.dir / name).write_text(yaml.safe_dump_all(docs, sort_keys=False))

    def replace(self, name, old, new):
        text = (self.dir / name).read_text()
        self.assertIn(old, text, f"{name} no longer holds {old!r}: update the test")
        (self.dir / name).write_text(text.replace(old, new))

    @staticmethod
    def pod(doc):
        return doc["spec"]["template"]["spec"]

    def deadman(self, doc):
        return next(c for c in self.pod(doc)["containers"] if c["name"] == "deadman")

    def reloader(self, doc):
        return next(c for c in self.pod(doc)["containers"] if c["name"] == "config-reloader")

    def add_prometheus_rule(self, **metadata):
        rules = yaml.safe_load((self.root / "alerts" / "deadman.rules.yml").read_text())
        doc = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "deadman", "namespace": "monitoring", **metadata},
            "spec": {"groups": rules["groups"]},
        }
        (self.dir / "prometheusrule.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    # -- the shipped manifests -------------------------------------------

    def test_shipped_manifests_pass(self):
        out = self.assertPasses()
        self.assertIn("every reference resolves", out)

    @unittest.skipUnless(BINARY, "no deadman binary (cargo build)")
    def test_shipped_config_passes_check_config(self):
        out = self.assertPasses(binary=True)
        self.assertIn("deadman check-config --strict on examples/kubernetes/configmap.yaml deadman.toml: SUCCESS", out)

    @unittest.skipUnless(HAVE_SCHEMAS, "kubernetes-validate is not installed")
    def test_shipped_manifests_match_the_api_schemas(self):
        out = self.assertPasses(schema=True)
        self.assertIn("valid for the Kubernetes", out)

    def test_the_real_checkout_passes(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = ck.main(["--skip-binary", "--skip-schema"])
        self.assertEqual(code, 0, out.getvalue())

    # -- parsing ---------------------------------------------------------

    def test_duplicate_keys_are_refused(self):
        self.replace("service.yaml", "  type: ClusterIP\n", "  type: ClusterIP\n  type: NodePort\n")
        self.assertFails("service.yaml: not valid YAML", "found duplicate key 'type'")

    def test_missing_namespace(self):
        self.edit("configmap.yaml", lambda d: d["metadata"].pop("namespace"))
        self.assertFails("configmap.yaml: document 1 (ConfigMap None/deadman-config): metadata.namespace: missing")

    def test_wrong_api_version(self):
        self.edit("statefulset.yaml", lambda d: d.update(apiVersion="apps/v1beta1"))
        self.assertFails("statefulset.yaml: document 1 (StatefulSet monitoring/deadman): apiVersion: is 'apps/v1beta1'")

    def test_namespace_object_is_required(self):
        (self.dir / "namespace.yaml").unlink()
        self.replace("kustomization.yaml", "  - namespace.yaml\n", "")
        self.assertFails("metadata.namespace: Namespace monitoring is not in")

    @unittest.skipUnless(HAVE_SCHEMAS, "kubernetes-validate is not installed")
    def test_schema_rejects_unknown_fields(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d).update(readinesProbe={}))
        self.assertFails("readinesProbe' was unexpected", schema=True)

    # -- volumes, keys, env ------------------------------------------------

    def test_configmap_volume_names_a_missing_configmap(self):
        self.edit("statefulset.yaml", lambda d: self.pod(d)["volumes"][0]["configMap"].update(name="deadman-cfg"))
        self.assertFails("spec.template.spec.volumes[config].configMap: ConfigMap monitoring/deadman-cfg is not in")

    def test_secret_volume_names_a_missing_secret(self):
        self.edit("statefulset.yaml", lambda d: self.pod(d)["volumes"][1]["secret"].update(secretName="tokens"))
        self.assertFails("volumes[tokens].secret: Secret monitoring/tokens is not in")

    def test_referenced_object_in_another_namespace(self):
        self.edit("configmap.yaml", lambda d: d["metadata"].update(namespace="default"))
        self.assertFails("ConfigMap monitoring/deadman-config is not in")

    def test_volume_item_names_a_missing_key(self):
        self.edit("statefulset.yaml", lambda d: self.pod(d)["volumes"][0]["configMap"].update(
            items=[{"key": "other.toml", "path": "deadman.toml"}]))
        self.assertFails("configMap.items[0].key: 'other.toml' is not a key of ConfigMap monitoring/deadman-config")

    def test_volume_mount_names_a_missing_volume(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d)["volumeMounts"][1].update(name="conf"))
        self.assertFails("containers[deadman].volumeMounts[conf]: names no volume of the pod")

    def test_sub_path_names_a_missing_key(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d)["volumeMounts"][1].update(subPath="nope.toml"))
        self.assertFails("volumeMounts[config].subPath: 'nope.toml' is no file of volume config")

    def test_secret_key_ref_names_a_missing_key(self):
        def change(d):
            self.deadman(d)["env"] = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "deadman-tokens", "key": "nope"}}}]
        self.edit("statefulset.yaml", change)
        self.assertFails("env[X].valueFrom.secretKeyRef.key: 'nope' is not a key of Secret monitoring/deadman-tokens")

    def test_env_from_names_a_missing_configmap(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d).update(envFrom=[{"configMapRef": {"name": "deadman-env"}}]))
        self.assertFails("containers[deadman].envFrom[0].configMapRef: ConfigMap monitoring/deadman-env is not in")

    def test_token_env_must_be_set_from_a_secret(self):
        self.replace("configmap.yaml", 'every = "15m"\n', 'every = "15m"\n    token_env = "SHOPIFY_TOKEN"\n')
        self.assertFails("check 'shopify-orders-to-xero': token_env: SHOPIFY_TOKEN is not set in the container")
        self.edit("statefulset.yaml", lambda d: self.deadman(d).update(env=[{"name": "SHOPIFY_TOKEN", "value": "x" * 20}]))
        self.assertFails("containers[deadman].env[SHOPIFY_TOKEN]: holds a token in the pod spec")
        self.edit("statefulset.yaml", lambda d: self.deadman(d).update(env=[{"name": "SHOPIFY_TOKEN", "valueFrom": {
            "secretKeyRef": {"name": "deadman-tokens", "key": "nightly-etl"}}}]))
        self.assertPasses()

    def test_stateful_set_service_name(self):
        self.edit("statefulset.yaml", lambda d: d["spec"].update(serviceName="deadman-headless"))
        self.assertFails("spec.serviceName: Service monitoring/deadman-headless is not in")

    def test_stateful_set_selector_must_match_the_template(self):
        self.edit("statefulset.yaml", lambda d: d["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "x"}))
        self.assertFails("spec.selector: does not match the pod template's labels")

    # -- deadman's flags and files -----------------------------------------

    def test_unknown_flag(self):
        self.replace("statefulset.yaml", "--config.file=/etc/deadman/deadman.toml", "--config=/etc/deadman/deadman.toml")
        self.assertFails("--config is not a deadman flag")

    def test_config_file_outside_the_configmap_mount(self):
        self.replace("statefulset.yaml", "--config.file=/etc/deadman/deadman.toml", "--config.file=/etc/other/deadman.toml")
        self.assertFails("--config.file /etc/other/deadman.toml is not inside a ConfigMap volume's mount")

    def test_config_file_names_no_key(self):
        self.replace("statefulset.yaml", "--config.file=/etc/deadman/deadman.toml", "--config.file=/etc/deadman/other.toml")
        self.assertFails("--config.file /etc/deadman/other.toml: 'other.toml' is no key of the ConfigMap mounted at /etc/deadman")

    def test_token_file_outside_the_secret_mount(self):
        self.replace("configmap.yaml", '"/var/run/secrets/deadman/nightly-etl"', '"/etc/tokens/nightly-etl"')
        self.assertFails("configmap.yaml: document 1 (ConfigMap monitoring/deadman-config): data.deadman.toml: "
                         "check 'nightly-etl': token_file: /etc/tokens/nightly-etl is not inside a Secret volume's mount")

    def test_token_file_names_no_key(self):
        self.replace("configmap.yaml", '"/var/run/secrets/deadman/nightly-etl"', '"/var/run/secrets/deadman/etl"')
        self.assertFails("token_file: /var/run/secrets/deadman/etl: 'etl' is no key of the volume mounted at /var/run/secrets/deadman")

    def test_token_file_in_the_configmap(self):
        self.replace("configmap.yaml", '"/var/run/secrets/deadman/nightly-etl"', '"deadman.toml"')
        self.assertFails("token_file: deadman.toml is in ConfigMap deadman-config; a token belongs in a Secret")

    def test_storage_path_on_no_volume(self):
        self.replace("statefulset.yaml", "--storage.path=/data", "--storage.path=/var/lib/deadman")
        self.assertFails("--storage.path /var/lib/deadman is on no volume")

    def test_storage_path_on_an_empty_dir(self):
        def change(d):
            d["spec"].pop("volumeClaimTemplates")
            self.pod(d)["volumes"].append({"name": "data", "emptyDir": {}})
        self.edit("statefulset.yaml", change)
        self.assertFails("--storage.path /data is on volume data (emptyDir), not a PersistentVolumeClaim")

    def test_storage_claim_must_be_read_write_once(self):
        self.edit("statefulset.yaml", lambda d: d["spec"]["volumeClaimTemplates"][0]["spec"].update(accessModes=["ReadWriteMany"]))
        self.assertFails("spec.volumeClaimTemplates[data].spec.accessModes: is ['ReadWriteMany']")

    def test_deployment_with_a_claim_needs_one_replica_and_recreate(self):
        def change(d):
            d["kind"] = "Deployment"
            d["spec"].pop("volumeClaimTemplates")
            d["spec"].pop("serviceName")
            d["spec"].pop("podManagementPolicy")
            d["spec"]["replicas"] = 2
            self.pod(d)["volumes"].append({"name": "data", "persistentVolumeClaim": {"claimName": "deadman-data"}})
        self.edit("statefulset.yaml", change)
        self.assertFails(
            "(Deployment monitoring/deadman): spec.replicas: is 2, with one claim for all",
            "spec.strategy.type: must be Recreate",
            "volumes[data].persistentVolumeClaim.claimName: PersistentVolumeClaim monitoring/deadman-data is not in",
        )

    def test_probe_port_deadman_does_not_listen_on(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d)["livenessProbe"]["httpGet"].update(port=9090))
        self.assertFails("livenessProbe.httpGet.port: 9090 is not a port deadman listens on")

    def test_probe_port_name_the_container_lacks(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d)["readinessProbe"]["httpGet"].update(port="web"))
        self.assertFails("readinessProbe.httpGet.port: 'web' names no port of the container")

    def test_probe_path(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d)["livenessProbe"]["httpGet"].update(path="/healthz"))
        self.assertFails("livenessProbe.httpGet.path: is '/healthz'; deadman's is /-/healthy")

    def test_missing_probe(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d).pop("readinessProbe"))
        self.assertFails("containers[deadman].readinessProbe: missing (httpGet /-/ready)")

    def test_listen_address_on_another_port(self):
        self.replace("statefulset.yaml", "--web.listen-address=:10070", "--web.listen-address=:9100")
        self.assertFails("deadman listens on 9100 (--web.listen-address :9100) but the container declares no such containerPort",
                         "livenessProbe.httpGet.port: 'http' is not a port deadman listens on")

    def test_listen_address_on_loopback_only(self):
        self.replace("statefulset.yaml", "--web.listen-address=:10070", "--web.listen-address=127.0.0.1:10070")
        self.assertFails("readinessProbe.httpGet.port: 'http' is not a port deadman listens on for the kubelet")

    def test_termination_grace_shorter_than_the_drain(self):
        self.edit("statefulset.yaml", lambda d: self.pod(d).update(terminationGracePeriodSeconds=5))
        self.assertFails("spec.template.spec.terminationGracePeriodSeconds: is 5; deadman drains requests for up to 10 s")

    # -- security and resources ------------------------------------------

    def test_read_only_root_file_system(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d)["securityContext"].update(readOnlyRootFilesystem=False))
        self.assertFails("containers[deadman].securityContext.readOnlyRootFilesystem: must be true")

    def test_run_as_the_image_user(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d)["securityContext"].update(runAsUser=1000))
        self.assertFails("securityContext.runAsUser: is 1000; the image's user is 65534 (Dockerfile USER)")

    def test_capabilities_dropped(self):
        self.edit("statefulset.yaml", lambda d: self.reloader(d)["securityContext"].pop("capabilities"))
        self.assertFails("containers[config-reloader].securityContext.capabilities.drop: must include ALL")

    def test_seccomp(self):
        self.edit("statefulset.yaml", lambda d: self.pod(d)["securityContext"].pop("seccompProfile"))
        self.assertFails("securityContext.seccompProfile.type: is None; use RuntimeDefault")

    def test_privilege_escalation(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d)["securityContext"].pop("allowPrivilegeEscalation"))
        self.assertFails("containers[deadman].securityContext.allowPrivilegeEscalation: must be false")

    def test_resources(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d)["resources"].pop("limits"))
        self.assertFails("containers[deadman].resources.limits.memory: missing")

    # -- the config reloader -----------------------------------------------

    def test_reloader_needs_the_lifecycle_flag(self):
        self.edit("statefulset.yaml", lambda d: self.deadman(d)["args"].remove("--web.enable-lifecycle"))
        self.assertFails("no --web.enable-lifecycle, so the reloader's POST /-/reload (config-reloader) gets 403")

    def test_reloader_url(self):
        self.replace("statefulset.yaml", "--reload-url=http://127.0.0.1:10070/-/reload", "--reload-url=http://127.0.0.1:9090/-/reload")
        self.assertFails("--reload-url http://127.0.0.1:9090/-/reload is not deadman's")

    def test_reloader_watches_the_token_directory(self):
        self.replace("statefulset.yaml", "            - --watched-dir=/var/run/secrets/deadman\n", "")
        self.assertFails("no --watched-dir=/var/run/secrets/deadman: a change to check 'nightly-etl''s token file would not be reloaded")

    def test_reloader_mounts_what_it_watches(self):
        self.edit("statefulset.yaml", lambda d: self.reloader(d)["volumeMounts"].pop(0))
        self.assertFails("does not mount what deadman has at /etc/deadman")

    # -- Service -------------------------------------------------------------

    def test_service_selector_matches_no_pod(self):
        self.edit("service.yaml", lambda d: d["spec"]["selector"].update({"app.kubernetes.io/instance": "other"}))
        self.assertFails("service.yaml: document 1 (Service monitoring/deadman): spec.selector: "
                         "{'app.kubernetes.io/name': 'deadman', 'app.kubernetes.io/instance': 'other'} matches no pod template")

    def test_service_target_port_names_no_container_port(self):
        self.edit("service.yaml", lambda d: d["spec"]["ports"][0].update(targetPort="metrics"))
        self.assertFails("spec.ports[http].targetPort: 'metrics' is no container port of")

    def test_service_name_is_the_rules_job(self):
        self.edit("service.yaml", lambda d: d["metadata"].update(name="deadman-exporter"))
        self.edit("statefulset.yaml", lambda d: d["spec"].update(serviceName="deadman-exporter"))
        self.replace("cronjob.yaml", "http://deadman.monitoring.svc:10070", "http://deadman-exporter.monitoring.svc:10070")
        self.assertFails("servicemonitor.yaml: document 1 (ServiceMonitor monitoring/deadman): spec.selector: its targets get "
                         "job=['deadman-exporter'] (the Service's name), but alerts/deadman.rules.yml selects job='deadman'")

    def test_rules_and_mixin_agree_on_the_job(self):
        self.replace_repo("mixin/config.libsonnet", "jobName: 'deadman'", "jobName: 'other'")
        self.assertFails("mixin/config.libsonnet: jobName: is 'other' but alerts/deadman.rules.yml selects job='deadman'")

    def replace_repo(self, rel, old, new):
        path = self.root / rel
        text = path.read_text()
        self.assertIn(old, text, f"{rel} no longer holds {old!r}: update the test")
        path.write_text(text.replace(old, new))

    # -- ServiceMonitor ------------------------------------------------------

    def test_service_monitor_selects_no_service(self):
        self.edit("servicemonitor.yaml", lambda d: d["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "other"}))
        self.assertFails("(ServiceMonitor monitoring/deadman): spec.selector: ", "matches the labels of no Service")

    def test_service_monitor_namespace_selector(self):
        self.edit("servicemonitor.yaml", lambda d: d["spec"].update(namespaceSelector={"matchNames": ["default"]}))
        self.assertFails("spec.namespaceSelector: covers ['default'], not the namespace of service.yaml"
                         .replace("service.yaml", "examples/kubernetes/service.yaml"))

    def test_service_monitor_endpoint_port(self):
        self.edit("servicemonitor.yaml", lambda d: d["spec"]["endpoints"][0].update(port="web"))
        self.assertFails("spec.endpoints[0].port: 'web' is no port name of examples/kubernetes/service.yaml")

    def test_service_monitor_path(self):
        self.edit("servicemonitor.yaml", lambda d: d["spec"]["endpoints"][0].update(path="/stats"))
        self.assertFails("spec.endpoints[0].path: is '/stats'; deadman serves metrics at /metrics")

    def test_service_monitor_interval(self):
        self.edit("servicemonitor.yaml", lambda d: d["spec"]["endpoints"][0].update(interval="30s"))
        self.assertFails("spec.endpoints[0].interval: is '30s'; the rules' timing assumes 15s (examples/prometheus.yml global.scrape_interval)")

    def test_service_monitor_job_label(self):
        self.edit("servicemonitor.yaml", lambda d: d["spec"].update(jobLabel="app.kubernetes.io/name"))
        self.assertPasses()
        self.edit("servicemonitor.yaml", lambda d: d["spec"].update(jobLabel="app.kubernetes.io/instance"))
        self.edit("service.yaml", lambda d: d["metadata"]["labels"].update({"app.kubernetes.io/instance": "prod"}))
        self.edit("service.yaml", lambda d: d["spec"]["selector"].update({"app.kubernetes.io/instance": "deadman"}))
        self.edit("servicemonitor.yaml", lambda d: d["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/instance": "prod"}))
        self.assertFails("its targets get job=['prod'] (the Service's label 'app.kubernetes.io/instance')")

    def test_service_monitor_relabels_job(self):
        self.edit("servicemonitor.yaml", lambda d: d["spec"]["endpoints"][0].update(
            relabelings=[{"targetLabel": "job", "replacement": "x"}]))
        self.assertFails("spec.endpoints[0].relabelings[0].targetLabel: rewrites job")

    def test_service_monitor_selects_two_services(self):
        docs = self.docs("service.yaml")
        second = yaml.safe_load(yaml.safe_dump(docs[0]))
        second["metadata"]["name"] = "deadman-headless"
        second["spec"]["clusterIP"] = "None"
        (self.dir / "service.yaml").write_text(yaml.safe_dump_all([docs[0], second], sort_keys=False))
        self.assertFails("spec.selector: selects 2 Services (deadman, deadman-headless)")

    # -- PrometheusRule ------------------------------------------------------

    def test_prometheus_rule_from_the_rules_file_passes(self):
        self.add_prometheus_rule(labels={"release": "kube-prometheus-stack"})
        self.edit("servicemonitor.yaml", lambda d: d["metadata"]["labels"].update(release="kube-prometheus-stack"))
        out = self.assertPasses()
        self.assertIn("PrometheusRule groups = alerts/deadman.rules.yml", out)
        self.assertNotIn("does not exist yet", out)

    def test_prometheus_rule_groups_differ(self):
        self.add_prometheus_rule()

        def change(d):
            d["spec"]["groups"][1]["rules"][0]["for"] = "1h"
        self.edit("prometheusrule.yaml", change)
        self.assertFails("(PrometheusRule monitoring/deadman): spec.groups: differs from alerts/deadman.rules.yml",
                         "spec.groups[1] (deadman.exporter).rules[0]")

    def test_prometheus_rule_api_version(self):
        self.add_prometheus_rule()
        self.edit("prometheusrule.yaml", lambda d: d.update(apiVersion="monitoring.coreos.com/v1alpha1"))
        self.assertFails("(PrometheusRule monitoring/deadman): apiVersion: is 'monitoring.coreos.com/v1alpha1'")

    def test_prometheus_rule_selection_labels_on_the_service_monitor(self):
        self.add_prometheus_rule(labels={"release": "prometheus"})
        self.assertFails("(ServiceMonitor monitoring/deadman): metadata.labels: lacks {'release': 'prometheus'}")

    def test_prometheus_rule_namespace(self):
        self.add_prometheus_rule()
        self.edit("prometheusrule.yaml", lambda d: d["metadata"].update(namespace="default"))
        self.assertFails("(PrometheusRule default/deadman): metadata.namespace: is 'default', the ServiceMonitor's is 'monitoring'")

    def test_missing_prometheus_rule(self):
        (self.dir / "prometheusrule.yaml").unlink()
        self.assertFails("PrometheusRule: none found", "resources[", "prometheusrule.yaml does not exist")

    # -- the CronJob -----------------------------------------------------------

    def test_cronjob_url_host(self):
        self.replace("cronjob.yaml", "http://deadman.monitoring.svc:10070", "http://deadmn.monitoring.svc:10070")
        self.assertFails("env[DEADMAN_URL]: http://deadmn.monitoring.svc:10070: no Service monitoring/deadmn")

    def test_cronjob_url_port(self):
        self.replace("cronjob.yaml", "http://deadman.monitoring.svc:10070", "http://deadman.monitoring.svc:9090")
        self.assertFails("port 9090 is not a port of examples/kubernetes/service.yaml")

    def test_cronjob_check_is_configured(self):
        self.replace("cronjob.yaml", "value: nightly-etl\n", "value: nightly-etl2\n")
        self.assertFails("env[DEADMAN_CHECK]: 'nightly-etl2' is not a check of examples/kubernetes/configmap.yaml")

    def test_cronjob_schedule_matches_the_check(self):
        self.replace("cronjob.yaml", 'schedule: "0 3 * * *"', 'schedule: "0 4 * * *"')
        self.assertFails("spec.schedule: is '0 4 * * *', but check 'nightly-etl' of examples/kubernetes/configmap.yaml: "
                         "document 1 (ConfigMap monitoring/deadman-config) expects cron '0 3 * * *'")

    def test_cronjob_time_zone_matches_the_check(self):
        self.replace("cronjob.yaml", 'timeZone: "Etc/UTC"', 'timeZone: "Europe/Paris"')
        self.assertFails("spec.timeZone: is 'Europe/Paris', but check 'nightly-etl'")

    def test_cronjob_token_matches_deadman(self):
        self.replace("cronjob.yaml", "token: REPLACE-ME-with-openssl-rand-hex-32", "token: another-token-of-enough-length")
        self.assertFails("the token in examples/kubernetes/cronjob.yaml: document 2 (Secret monitoring/nightly-etl-deadman) "
                         "key 'token' is not deadman's for check 'nightly-etl'")

    def test_cronjob_token_file_names_a_key(self):
        self.replace("cronjob.yaml", "/var/run/secrets/deadman/token", "/var/run/secrets/deadman/tok")
        self.assertFails("env[DEADMAN_TOKEN_FILE]: /var/run/secrets/deadman/tok: 'tok' is no key")

    def test_cronjob_needs_a_token(self):
        def change(d):
            c = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
            c["env"] = [e for e in c["env"] if e["name"] != "DEADMAN_TOKEN_FILE"]
        self.edit("cronjob.yaml", change)
        self.assertFails("check 'nightly-etl' needs a token")

    def test_cronjob_token_not_in_the_pod_spec(self):
        def change(d):
            c = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
            c["env"] = [e for e in c["env"] if e["name"] != "DEADMAN_TOKEN_FILE"]
            c["env"].append({"name": "DEADMAN_TOKEN", "value": "REPLACE-ME-with-openssl-rand-hex-32"})
        self.edit("cronjob.yaml", change)
        self.assertFails("env[DEADMAN_TOKEN]: holds the token in the pod spec; use a Secret")

    def test_cronjob_secret_exists(self):
        self.replace("cronjob.yaml", "secretName: nightly-etl-deadman", "secretName: nightly-etl-token")
        self.assertFails("(CronJob monitoring/nightly-etl): spec.jobTemplate.spec.template.spec.volumes[deadman-token].secret: "
                         "Secret monitoring/nightly-etl-token is not in")

    # -- kustomization -------------------------------------------------------

    def test_kustomization_lists_a_missing_file(self):
        self.replace("kustomization.yaml", "  - service.yaml\n", "  - service.yaml\n  - pdb.yaml\n")
        self.assertFails("kustomization.yaml: resources[5]: pdb.yaml does not exist")

    def test_kustomization_lists_what_its_objects_refer_to(self):
        self.replace("kustomization.yaml", "  - secret.yaml\n", "")
        self.assertFails("kustomization.yaml: resources: examples/kubernetes/statefulset.yaml: document 1 (StatefulSet "
                         "monitoring/deadman) refers to Secret monitoring/deadman-tokens, which is only in "
                         "examples/kubernetes/secret.yaml (not listed)")

    def test_kustomization_must_not_rewrite_names(self):
        self.replace("kustomization.yaml", "resources:\n", "namePrefix: prod-\nresources:\n")
        self.assertFails("kustomization.yaml: namePrefix: changes names")

    # -- deadman check-config ------------------------------------------------

    @unittest.skipUnless(BINARY, "no deadman binary (cargo build)")
    def test_check_config_errors_are_reported(self):
        self.replace("configmap.yaml", 'every = "15m"', 'every = "15 minutes please"')
        self.assertFails("configmap.yaml: document 1 (ConfigMap monitoring/deadman-config): data.deadman.toml: "
                         "deadman check-config --strict: FAILED: config file", binary=True)

    @unittest.skipUnless(BINARY, "no deadman binary (cargo build)")
    def test_check_config_reads_the_token_from_the_secret(self):
        self.replace("secret.yaml", "nightly-etl: REPLACE-ME-with-openssl-rand-hex-32", "nightly-etl: short")
        self.replace("cronjob.yaml", "token: REPLACE-ME-with-openssl-rand-hex-32", "token: short")
        self.assertFails("deadman check-config --strict: ", binary=True)

    def test_invalid_toml(self):
        self.replace("configmap.yaml", "[storage]\n", "[storage\n")
        self.assertFails("data.deadman.toml: not valid TOML")

    def test_missing_binary_fails(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = ck.main(["--root", str(self.root), "--dir", str(self.dir), "--skip-schema",
                            "--deadman", str(self.root / "no-such-deadman")])
        self.assertEqual(code, 1)
        self.assertIn("no deadman binary to run check-config with", out.getvalue())


if __name__ == "__main__":
    unittest.main()
