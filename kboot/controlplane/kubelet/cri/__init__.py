"""The container-runtime seam of the kubelet: data shapes, ``Runtime``, CRI and fake impls.

``api.proto`` is a hand-written subset of kubernetes/cri-api ``runtime/v1`` with upstream's field
numbers; ``api_pb2*.py`` are generated from it by ``scripts/gen-cri-proto.sh`` and committed.
"""
