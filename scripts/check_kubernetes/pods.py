"""Pod templates: the volumes, ConfigMaps, Secrets and claims they use,
and the containers' mounts."""

from .manifests import POD_TEMPLATES, as_dict, as_list, dig, posix_norm, selector_matches, under


class Pods:
    """Checks on every pod template and what its volumes refer to."""

    def pod_templates(self):
        """(doc, template, field prefix) of every workload."""
        for doc in self.docs:
            path = POD_TEMPLATES.get(doc.kind)
            if doc.kind == "Pod":
                yield doc, {"metadata": doc.obj.get("metadata"), "spec": doc.obj.get("spec")}, ""
            elif path:
                template = dig(doc.obj, *path)
                if not isinstance(template, dict):
                    self.fail(doc, ".".join(path), "missing")
                    continue
                yield doc, template, ".".join(path) + "."

    def object_keys(self, obj):
        if obj.kind == "ConfigMap":
            return set(as_dict(obj.obj.get("data"))) | set(as_dict(obj.obj.get("binaryData")))
        return set(as_dict(obj.obj.get("data"))) | set(as_dict(obj.obj.get("stringData")))

    def object_value(self, obj, key):
        if key in as_dict(obj.obj.get("stringData")):
            return str(obj.obj["stringData"][key])
        value = as_dict(obj.obj.get("data")).get(key)
        if value is None:
            return None
        if obj.kind == "Secret":
            import base64
            return base64.b64decode(value).decode()
        return str(value)

    def source_files(self, doc, field, kind, name, items, optional, namespace):
        """{relative path: (object, key)} that a configMap/secret volume
        source projects, after checking the object and its keys."""
        target = self.get(doc, kind, namespace, name)
        if target is None:
            if not optional:
                self.fail(doc, field, f"{kind} {namespace}/{name} is not in {self.kdisplay}/")
            return {}
        keys = self.object_keys(target)
        files = {}
        if items:
            for i, item in enumerate(items):
                key = item.get("key")
                if key not in keys:
                    self.fail(doc, f"{field}.items[{i}].key", f"{key!r} is not a key of {kind} {namespace}/{name} "
                              f"(keys: {', '.join(sorted(keys)) or 'none'})")
                    continue
                files[item.get("path", key)] = (target, key)
        else:
            files = {key: (target, key) for key in keys}
        return files

    def pod_volumes(self, doc, template, prefix):
        """{volume name: {"type", "files", ...}} of a pod, after checking
        every object they name."""
        spec = as_dict(template.get("spec"))
        ns = doc.namespace
        volumes = {}
        for i, vol in enumerate(as_list(spec.get("volumes"))):
            name = vol.get("name")
            field = f"{prefix}spec.volumes[{name or i}]"
            if name in volumes:
                self.fail(doc, field, "a second volume of that name")
            info = {"type": "other", "files": None}
            if "configMap" in vol:
                src = as_dict(vol["configMap"])
                info = {"type": "configMap", "files": self.source_files(
                    doc, field + ".configMap", "ConfigMap", src.get("name"), src.get("items"), src.get("optional"), ns)}
            elif "secret" in vol:
                src = as_dict(vol["secret"])
                info = {"type": "secret", "files": self.source_files(
                    doc, field + ".secret", "Secret", src.get("secretName"), src.get("items"), src.get("optional"), ns)}
            elif "projected" in vol:
                files = {}
                for j, source in enumerate(as_list(dig(vol, "projected", "sources"))):
                    for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                        if key in source:
                            src = as_dict(source[key])
                            files.update(self.source_files(doc, f"{field}.projected.sources[{j}].{key}", kind,
                                                           src.get("name"), src.get("items"), src.get("optional"), ns))
                info = {"type": "projected", "files": files}
            elif "persistentVolumeClaim" in vol:
                claim = dig(vol, "persistentVolumeClaim", "claimName")
                pvc = self.get(doc, "PersistentVolumeClaim", ns, claim)
                if pvc is None:
                    self.fail(doc, field + ".persistentVolumeClaim.claimName",
                              f"PersistentVolumeClaim {ns}/{claim} is not in {self.kdisplay}/")
                info = {"type": "pvc", "files": None, "pvc": pvc}
            elif "emptyDir" in vol:
                info = {"type": "emptyDir", "files": None}
            volumes[name] = info
        if doc.kind == "StatefulSet":
            for tmpl in as_list(dig(doc.obj, "spec", "volumeClaimTemplates")):
                name = dig(tmpl, "metadata", "name")
                if name in volumes:
                    self.fail(doc, f"spec.volumeClaimTemplates[{name}]", "has the name of a pod volume too")
                volumes[name] = {"type": "claimTemplate", "files": None, "template": tmpl}
        return volumes

    def containers(self, template):
        spec = as_dict(template.get("spec"))
        for group in ("initContainers", "containers"):
            for c in as_list(spec.get(group)):
                yield group, c

    def check_pod(self, doc, template, prefix):
        """Generic references of one pod template. Returns its volumes."""
        volumes = self.pod_volumes(doc, template, prefix)
        ns = doc.namespace
        for group, c in self.containers(template):
            cf = f"{prefix}spec.{group}[{c.get('name')}]"
            for m in as_list(c.get("volumeMounts")):
                mf = f"{cf}.volumeMounts[{m.get('name')}]"
                vol = volumes.get(m.get("name"))
                if vol is None:
                    self.fail(doc, mf, f"names no volume of the pod (volumes: {', '.join(sorted(map(str, volumes))) or 'none'})")
                    continue
                sub = m.get("subPath")
                if sub and vol["files"] is not None:
                    if sub not in vol["files"] and not any(under(f"/{p}", f"/{sub}") is not None for p in vol["files"]):
                        self.fail(doc, mf + ".subPath", f"{sub!r} is no file of volume {m.get('name')} "
                                  f"(files: {', '.join(sorted(vol['files'])) or 'none'})")
                    else:
                        self.note(f"{doc.where()}: {mf}: a subPath mount of a ConfigMap or Secret never sees updates")
            for e in as_list(c.get("env")):
                ef = f"{cf}.env[{e.get('name')}]"
                for ref, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    src = dig(e, "valueFrom", ref)
                    if src is None:
                        continue
                    target = self.get(doc, kind, ns, src.get("name"))
                    if target is None:
                        if not src.get("optional"):
                            self.fail(doc, f"{ef}.valueFrom.{ref}", f"{kind} {ns}/{src.get('name')} is not in {self.kdisplay}/")
                    elif src.get("key") not in self.object_keys(target):
                        self.fail(doc, f"{ef}.valueFrom.{ref}.key", f"{src.get('key')!r} is not a key of {kind} {ns}/{src.get('name')}")
            for i, e in enumerate(as_list(c.get("envFrom"))):
                for ref, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    src = e.get(ref)
                    if src and self.get(doc, kind, ns, src.get("name")) is None and not src.get("optional"):
                        self.fail(doc, f"{cf}.envFrom[{i}].{ref}", f"{kind} {ns}/{src.get('name')} is not in {self.kdisplay}/")
            names = [p.get("name") for p in as_list(c.get("ports")) if p.get("name")]
            if len(names) != len(set(names)):
                self.fail(doc, f"{cf}.ports", "two ports of the same name")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = dig(c, probe, "httpGet", "port")
                if isinstance(port, str) and port not in names:
                    self.fail(doc, f"{cf}.{probe}.httpGet.port", f"{port!r} names no port of the container (ports: {', '.join(names) or 'none'})")
        selector = dig(doc.obj, "spec", "selector")
        labels = as_dict(dig(template, "metadata", "labels"))
        if doc.kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
            if not as_dict(selector).get("matchLabels") and not as_dict(selector).get("matchExpressions"):
                self.fail(doc, "spec.selector", "missing or empty")
            elif not selector_matches(selector, labels):
                self.fail(doc, "spec.selector", f"does not match the pod template's labels {labels}")
        if doc.kind == "StatefulSet":
            service = dig(doc.obj, "spec", "serviceName")
            if service and self.get(doc, "Service", ns, service) is None:
                self.fail(doc, "spec.serviceName", f"Service {ns}/{service} is not in {self.kdisplay}/")
        return volumes

    @staticmethod
    def mount_of(container, volumes, path):
        """(mount, volume info, relative path) of the longest mount holding
        `path` in `container`, or None."""
        best = None
        for m in as_list(container.get("volumeMounts")):
            mount_path = m.get("mountPath")
            if not isinstance(mount_path, str):
                continue
            rel = under(path, posix_norm(mount_path))
            if rel is not None and (best is None or len(mount_path) > len(best[0]["mountPath"])):
                if m.get("subPath"):
                    rel = f"{m['subPath']}/{rel}" if rel else m["subPath"]
                best = (m, volumes.get(m.get("name")), rel)
        return best
