"""Options of driver-managed LoxiLB appliances: the cloud to boot them in, their image and
networks, the driver's certificate authority, timeouts of each lifecycle step and how
load balancers share appliance groups.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loxilb_appliance"

OPTS: list[cfg.Opt] = [
    # The cloud (Keystone credentials of the service user that owns the appliances).
    cfg.StrOpt("auth_url", help="Keystone URL of the cloud the appliances are booted in."),
    cfg.StrOpt("username", help="Service user that owns the appliance servers and ports."),
    cfg.StrOpt("password", secret=True, help="Password of the appliance service user."),
    cfg.StrOpt("project_name", default="service",
               help="Project the appliance servers, ports and security groups live in."),
    cfg.StrOpt("user_domain_name", default="Default", help="Domain of the service user."),
    cfg.StrOpt("project_domain_name", default="Default",
               help="Domain of the appliance project."),
    cfg.StrOpt("region_name", help="Region of the compute and network services."),
    # What an appliance is.
    cfg.StrOpt("image_id", help="Glance image of the LoxiLB appliance; a flavor's 'image' "
               "metadata overrides it."),
    cfg.StrOpt("compute_flavor_id", help="Nova flavor of an appliance; a flavor's "
               "'compute_flavor' metadata overrides it."),
    cfg.StrOpt("management_network_id", help="Network of the appliances' management ports: "
               "the driver reaches the LoxiLB API over it."),
    cfg.StrOpt("availability_zone", help="Nova availability zone of the appliances unless "
               "the load balancer's availability zone names one."),
    cfg.PortOpt("api_port", default=8091,
                help="Port of the appliance's TLS terminator in front of the LoxiLB API."),
    cfg.ListOpt("management_cidrs", default=[],
                help="Source addresses allowed to reach the appliance API port (the worker "
                "hosts); empty allows the management network only through the default "
                "security-group rules of the cloud."),
    # Certificates.
    cfg.StrOpt("ca_key_passphrase", secret=True,
               help="Passphrase that encrypts the driver CA's and client certificate's "
               "private keys in the driver database. Required before the first appliance "
               "is booted; changing it makes the stored CA unreadable."),
    cfg.IntOpt("ca_validity_days", default=3650, min=1,
               help="Lifetime of the driver's CA certificate, created on first use."),
    cfg.IntOpt("cert_validity_days", default=730, min=1,
               help="Lifetime of appliance server certificates and the driver's client "
               "certificate."),
    cfg.StrOpt("pki_path", default="$loxilb.state_path/appliance-pki",
               help="Directory where a worker writes the CA certificate and the driver's "
               "client certificate and key (mode 0600) for its TLS connections; the "
               "database stays the source of truth."),
    # Waits.
    cfg.FloatOpt("boot_timeout", default=300.0, min=1.0,
                 help="Seconds Nova may take to bring an appliance server to ACTIVE."),
    cfg.FloatOpt("ping_timeout", default=120.0, min=1.0,
                 help="Seconds to wait for the management address to answer ping once the "
                 "server is ACTIVE."),
    cfg.FloatOpt("api_timeout", default=120.0, min=1.0,
                 help="Seconds to wait for the appliance's LoxiLB API to answer over mutual "
                 "TLS once it answers ping."),
    cfg.FloatOpt("poll_interval", default=1.0, min=0.05,
                 help="Seconds between polls while waiting for Nova or an appliance."),
    cfg.BoolOpt("ping_check", default=True,
                help="Wait for the management address to answer ICMP echo before trying the "
                "API; off where ICMP is filtered between the workers and the appliances."),
    # Data-plane routing.
    cfg.BoolOpt("vip_default_route", default=True,
                help="Give each appliance a default route (0.0.0.0/0) via the VIP subnet's "
                "gateway, so replies to clients outside the VIP subnet leave through its "
                "router. Subnet host routes of the VIP and member subnets are added "
                "either way. An appliance has one routing table for management and data "
                "(no namespace as on an amphora), and a route it already holds is never "
                "replaced: if the image's management interface takes a default route "
                "from DHCP, that one stays. Turn this off where the appliance's default "
                "route must stay on the management network."),
    # Sharing.
    cfg.StrOpt("group_sharing", default="shared", choices=["shared", "per_lb"],
               help="shared: a new load balancer joins an appliance group with room for it "
               "(same VIP network, topology and flavor); per_lb: every load balancer gets "
               "its own appliances."),
    cfg.IntOpt("max_loadbalancers_per_group", default=50, min=1,
               help="Load balancers one shared appliance group hosts at most."),
    cfg.IntOpt("bfd_interval_us", default=200000, min=100000,
               help="BFD interval between the two appliances of an ACTIVE_STANDBY pair, in "
               "microseconds (LoxiLB's minimum is 100000)."),
    cfg.IntOpt("bfd_retry_count", default=3, min=1,
               help="Missed BFD intervals before the peer is declared down."),
    # Health checks.
    cfg.FloatOpt("health_check_timeout", default=2.0, min=0.1,
                 help="Connect and read timeout, in seconds, of the periodic health check of "
                 "an appliance's API; shorter than the configuration calls' so a dead MASTER "
                 "is found quickly."),
    cfg.IntOpt("health_check_retries", default=1, min=0,
               help="Retries of a failed health check within one pass before the appliance "
               "counts as dead (its BACKUP is promoted, it is rebuilt). Each retry waits "
               "[loxilb] api_retry_backoff first."),
]
