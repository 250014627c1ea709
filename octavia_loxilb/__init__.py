"""OpenStack Octavia provider driver for LoxiLB."""
