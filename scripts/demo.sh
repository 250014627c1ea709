#!/usr/bin/env bash
# The local demo from a fresh clone: virtualenv, services, then the whole stack (Octavia API,
# driver-agent, octavia-loxilb-worker, LoxiLB emulator, backends), a load balancer built with
# the openstack CLI, traffic through its VIP, the status tree, and a clean tear-down.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap-venv.sh
scripts/ensure-services.sh
exec .venv/bin/python -m scripts.demo "$@"
