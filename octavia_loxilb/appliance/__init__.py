"""Driver-managed LoxiLB appliances: certificates, Nova/Neutron resources, lifecycle flows.

See ``doc/appliances.md``.
"""
