#!/usr/bin/env bash
# Creates (or refreshes) .venv-openstack: Keystone, Neutron, Nova, Glance and Placement from
# PyPI for the OpenStack test rig (rig/openstack), plus the rig's entry-point package. A
# separate venv keeps Nova's and Neutron's packages and entry points out of the product's
# .venv. Idempotent: a second run does nothing unless the requirements or the plugin's
# pyproject changed. pip's output goes to .venv-openstack/install.log, shown on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-openstack
PY=${PYTHON:-python3.11}
stamp=$VENV/.installed-$(cat rig/openstack/requirements.txt rig/openstack/plugins/pyproject.toml \
    | sha1sum | cut -c1-12)
[ -f "$stamp" ] && exit 0
# Two test sessions starting at once must not run pip into the same venv: the second waits
# for the first and then finds the stamp.
exec 9>".venv-openstack.lock"
flock 9
[ -f "$stamp" ] && exit 0
if [ ! -x $VENV/bin/python ]; then
    echo "openstack-venv: creating $VENV with $PY" >&2
    "$PY" -m venv $VENV
    echo "*" > $VENV/.gitignore
fi
echo "openstack-venv: installing the OpenStack services into $VENV" >&2
if ! { $VENV/bin/pip install -r rig/openstack/requirements.txt \
        && $VENV/bin/pip install ./rig/openstack/plugins \
        && $VENV/bin/pip check; } > $VENV/install.log 2>&1; then
    tail -n 40 $VENV/install.log >&2
    echo "openstack-venv: pip install failed; the full log is $VENV/install.log" >&2
    exit 1
fi
rm -f $VENV/.installed-*
touch "$stamp"
