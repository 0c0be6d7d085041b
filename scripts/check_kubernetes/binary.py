"""The deadman binary: finding it, the flags it has, and `deadman
check-config --strict` on the ConfigMap's config with the Secrets it reads."""

import os
import re
import subprocess
import tempfile
from pathlib import Path

from .manifests import as_list, posix_norm, under


def find_binary(root):
    explicit = os.environ.get("DEADMAN_BIN")
    if explicit:
        return Path(explicit)
    dirs = [root / "target"]
    if os.environ.get("CARGO_TARGET_DIR"):
        dirs.insert(0, Path(os.environ["CARGO_TARGET_DIR"]))
    found = [d / profile / "deadman" for d in dirs for profile in ("release", "debug")]
    found = [p for p in found if p.is_file() and os.access(p, os.X_OK)]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def deadman_flags(root, binary):
    """{flag: takes_value} for the exporter's flags: from `deadman --help`
    when there is a binary, else from src/main.rs."""
    flags = {}
    if binary:
        out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=60)
        for m in re.finditer(r"^\s+(?:-\w, )?(--[a-z0-9][a-z0-9.-]*)( <[^>]+>)?", out.stdout, re.M):
            flags[m.group(1)] = bool(m.group(2))
        if flags:
            return flags, "deadman --help"
    text = (root / "src" / "main.rs").read_text()
    struct = text[text.index("struct Cli"):text.index("enum Command")]
    for m in re.finditer(r'long = "([^"]+)"[^\]]*\][^:]*?(\w+): ([^,\n]+),', struct, re.S):
        flags["--" + m.group(1)] = m.group(3).strip() != "bool"
    flags.update({"--help": False, "--version": False})
    return flags, "src/main.rs"


class CheckConfig:
    """deadman check-config --strict on the config each exporter mounts."""

    def run_check_config(self, servers):
        if self.skip_binary:
            self.note("deadman check-config not run (--skip-binary)")
            return
        if self.binary is None or not self.binary.exists():
            self.fail(self.kdisplay, "", "no deadman binary to run check-config with: build it (cargo build) or set DEADMAN_BIN")
            return
        for srv in servers:
            if srv["config"] is None or srv["toml"] is None:
                continue
            config_path, config_map, key = srv["config"]
            c, volumes = srv["container"], srv["volumes"]
            with tempfile.TemporaryDirectory(prefix="deadman-k8s-") as tmp:
                # Every ConfigMap and Secret the container mounts, at its
                # mount path under tmp.
                for m in as_list(c.get("volumeMounts")):
                    vol = volumes.get(m.get("name"))
                    if vol is None or vol["files"] is None:
                        continue
                    for rel, (obj, obj_key) in vol["files"].items():
                        if m.get("subPath"):
                            rel = under("/" + rel, "/" + m["subPath"])
                            if rel is None:
                                continue
                        dest = Path(tmp + posix_norm(f"{m['mountPath']}/{rel}"))
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        dest.write_text(self.object_value(obj, obj_key) or "")
                config_file = Path(tmp + config_path)
                text = config_file.read_text()
                text = re.sub(r"""((?:token_file|secret_file)\s*=\s*)(["'])/""", lambda m: f"{m.group(1)}{m.group(2)}{tmp}/", text)
                config_file.write_text(text)
                out = subprocess.run([str(self.binary), "check-config", "--strict", "--config.file", str(config_file)],
                                     capture_output=True, text=True, timeout=120)
                lines = (out.stdout + out.stderr).replace(tmp, "").strip().splitlines()
                if out.returncode != 0:
                    for line in lines or [f"exit {out.returncode}"]:
                        self.fail(config_map, f"data.{key}", f"deadman check-config --strict: {line}")
                else:
                    self.summary.append(f"deadman check-config --strict on {config_map.file} {key}: {' '.join(lines)}")
