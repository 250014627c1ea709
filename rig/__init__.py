"""Test rig: a real Octavia API and driver-agent on loopback, clients for it, and backends.

Used by the integration tests and the README demo; not part of the shipped package.
"""

from rig.octavia import OctaviaRig, RigError

__all__ = ["OctaviaRig", "RigError"]
