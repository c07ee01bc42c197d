"""The metrics server: ``metrics.k8s.io`` behind an APIService, fed by kubelet scrapes."""
