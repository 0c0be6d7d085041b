"""scripts/check-kubernetes in parts; see that script for what is checked."""
