"""Port-forward streams, shared by the apiserver (which relays them) and the kubelet (which
ends them inside the pod's network namespace): SPDY/3.1 framing (:mod:`.spdy`), raw HTTP
upgrades taken over from aiohttp (:mod:`.conn`), the SPDY port-forward session
(:mod:`.session`), the WebSocket channel protocol (:mod:`.channels`) and dialing inside a
network namespace (:mod:`.dial`). See docs/kubelet.md "Streams: port-forward".
"""
