"""kboot: an agentless, push-based cluster bootstrapper with a bundled Kubernetes-compatible
control plane.

The package has two halves that never mix (see docs/architecture.md):

* the *bootstrapper* (``inventory``, ``transport``, ``facts``, ``tasks``, ``playbook``, ``pki``,
  ``templating``, ``cluster``, ``lab``, ``bundle``, ``images``, ``cli``) runs on the workstation;
* the *control plane* (``controlplane``) runs on the cluster hosts and never imports the
  bootstrapper.
"""

from __future__ import annotations

__version__ = "0.2.0"
