"""Cluster-level operations built on the playbook runner: ``up`` and day-2 (status, kubeconfig,
logs, exec, reset, …). Python here only sequences phases and computes what YAML cannot (etcd
membership, certificate SANs, per-host variables); the steps live in ``playbooks/`` and
``templates/``."""
