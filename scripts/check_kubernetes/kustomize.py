"""The kustomization's closure, the namespaces, and validation against the
Kubernetes API schemas (kubernetes-validate)."""

from pathlib import PurePosixPath

from .manifests import CLUSTER_SCOPED, CRD_KINDS, MIN_KUBERNETES, as_list


class Kustomize:
    """Checks on the kustomization, the namespaces and the API schemas."""

    def check_namespaces(self, listed):
        for doc in self.docs:
            if doc.kind in CLUSTER_SCOPED or not doc.namespace:
                continue
            ns = self.index.get(("Namespace", None, doc.namespace))
            if ns is None:
                self.fail(doc, "metadata.namespace", f"Namespace {doc.namespace} is not in {self.kdisplay}/")
            elif listed is not None and doc.filename in listed and ns.filename not in listed:
                self.fail(doc, "metadata.namespace", f"Namespace {doc.namespace} ({ns.file}) is not in kustomization.yaml")

    def check_kustomization(self):
        if self.kustomization is None:
            self.note(f"no kustomization.yaml in {self.kdisplay}/")
            return None
        display, path, obj = self.kustomization
        if obj.get("apiVersion") != "kustomize.config.k8s.io/v1beta1":
            self.fail(display, "apiVersion", f"is {obj.get('apiVersion')!r}; a Kustomization is kustomize.config.k8s.io/v1beta1")
        for key in ("namespace", "commonLabels", "labels", "namePrefix", "nameSuffix"):
            if key in obj:
                self.fail(display, key, "changes names, namespaces or selectors after this checker has resolved them")
        listed = set()
        for i, res in enumerate(as_list(obj.get("resources"))):
            if not (path.parent / res).is_file():
                self.fail(display, f"resources[{i}]", f"{res} does not exist")
            listed.add(PurePosixPath(res).name)
        files = {d.filename for d in self.docs}
        for doc_from, key in self.refs:
            if doc_from.filename not in listed:
                continue
            target = self.index.get(key)
            if target is not None and target.filename not in listed:
                self.fail(display, "resources", f"{doc_from.where()} refers to {key[0]} {key[1]}/{key[2]}, which is "
                          f"only in {target.file} (not listed)")
        for name in sorted(files - listed):
            self.note(f"{display}: {name} is not listed (applied on its own)")
        return listed

    def check_schemas(self):
        if self.skip_schema:
            self.note("schema validation skipped (--skip-schema)")
            return
        try:
            import kubernetes_validate
            from kubernetes_validate import utils as kv
        except ImportError:
            message = "schema validation skipped: kubernetes-validate is not installed (python3 -m pip install kubernetes-validate)"
            if self.require_schema:
                self.fail(self.kdisplay, "", message)
            else:
                self.note(message)
            return
        versions = [MIN_KUBERNETES, kv.latest_version()]
        checked = 0
        for doc in self.docs:
            if doc.kind in CRD_KINDS:
                continue
            for version in versions:
                try:
                    kubernetes_validate.validate(doc.obj, version, strict=True)
                except kv.ValidationError as err:
                    path = ".".join(str(p) for p in err.path)
                    self.fail(doc, path or "(document)", f"{err.message} (Kubernetes {err.version} API schema)")
                    break
                except kv.SchemaNotFoundError as err:
                    self.fail(doc, "apiVersion", err.message)
                    break
            else:
                checked += 1
        self.summary.append(f"{checked} objects valid for the Kubernetes {versions[0]} and {versions[-1]} API schemas")
