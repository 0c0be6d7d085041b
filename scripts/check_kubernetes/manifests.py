"""Reading the manifests: the kinds this checker knows, a YAML loader that
refuses duplicate keys, one document with its place in the files, and
small helpers to walk and match what the documents say."""

import ipaddress
import re
from pathlib import Path, PurePosixPath

import yaml



# The oldest Kubernetes the examples are meant for (CronJob's timeZone is
# stable from 1.27 on); schemas are checked for it and the newest known.
MIN_KUBERNETES = "1.27.0"

API_VERSIONS = {
    "Namespace": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "PersistentVolumeClaim": "v1",
    "ServiceAccount": "v1",
    "Pod": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
    "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Ingress": "networking.k8s.io/v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PodMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}
CLUSTER_SCOPED = {"Namespace"}
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}

# Where each workload kind keeps its pod template.
POD_TEMPLATES = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}

UTC_NAMES = {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"}
CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (PyYAML
    would keep the last one silently; kubectl refuses such a file)."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class Doc:
    """One YAML document of one manifest file."""

    def __init__(self, file, index, obj):
        self.file = file  # display name
        self.filename = Path(file).name
        self.index = index  # 1-based
        self.obj = obj
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        self.kind = obj.get("kind")
        self.name = meta.get("name")
        self.namespace = meta.get("namespace")
        self.labels = meta.get("labels") or {}

    @property
    def key(self):
        return (self.kind, self.namespace, self.name)

    def where(self):
        scope = self.name if self.kind in CLUSTER_SCOPED else f"{self.namespace}/{self.name}"
        return f"{self.file}: document {self.index} ({self.kind} {scope})"


def dig(obj, *path, default=None):
    for step in path:
        if isinstance(obj, dict) and step in obj:
            obj = obj[step]
        elif isinstance(obj, list) and isinstance(step, int) and 0 <= step < len(obj):
            obj = obj[step]
        else:
            return default
    return obj


def as_list(value):
    return value if isinstance(value, list) else []


def as_dict(value):
    return value if isinstance(value, dict) else {}


def posix_norm(path):
    """Normalises an absolute POSIX path ('..' and '.' resolved)."""
    parts = []
    for part in PurePosixPath(path).parts[1:]:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def under(path, directory):
    """The part of `path` below `directory`, '' for the directory itself, or
    None when outside it."""
    directory = directory.rstrip("/") or "/"
    if path == directory:
        return ""
    prefix = directory if directory.endswith("/") else directory + "/"
    return path[len(prefix):] if path.startswith(prefix) else None


def selector_matches(selector, labels):
    """A label selector (matchLabels and matchExpressions) against labels.
    An empty selector matches everything."""
    selector = as_dict(selector)
    for key, value in as_dict(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expr in as_list(selector.get("matchExpressions")):
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def parse_listen(address):
    """(host, port) of a --web.listen-address value, or None."""
    m = re.fullmatch(r"(\[[^\]]*\]|[^:]*):(\d+)", address)
    if not m:
        return None
    return m.group(1).strip("[]"), int(m.group(2))


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def first_difference(a, b, path="spec.groups"):
    """Where two YAML values first differ, and how, or None when equal."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r:.60} against {type(b).__name__} {b!r:.60}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a:
                return f"{path}.{key}: missing"
            if key not in b:
                return f"{path}.{key}: not in the rules file"
            diff = first_difference(a[key], b[key], f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            label = ""
            if isinstance(y, dict):
                label = y.get("alert") or y.get("record") or y.get("name") or ""
            diff = first_difference(x, y, f"{path}[{i}]" + (f" ({label})" if label else ""))
            if diff:
                return diff
        if len(a) != len(b):
            return f"{path}: {len(a)} items against {len(b)} in the rules file"
        return None
    if a != b:
        return f"{path}: {a!r:.80} against {b!r:.80} in the rules file"
    return None
