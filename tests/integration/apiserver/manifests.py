"""Standard multi-document manifests the kubectl acceptance tests apply (namespace-templated)."""

from __future__ import annotations


def app_manifest(ns: str, *, replicas: int = 2, color: str = "blue") -> str:
    return f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {ns}
data:
  color: {color}
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: {ns}
type: Opaque
stringData:
  password: s3cr3t-{ns}-plaintext
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels:
    app: web
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
        env:
        - name: COLOR
          value: {color}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: v1
kind: Pod
metadata:
  name: solo
  namespace: {ns}
  labels:
    app: solo
spec:
  containers:
  - name: main
    image: busybox:1.36
    command: ["sleep", "3600"]
  - name: sidecar
    image: busybox:1.36
    command: ["sleep", "3600"]
"""
