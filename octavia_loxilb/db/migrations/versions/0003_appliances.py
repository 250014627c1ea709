"""Driver-managed appliances: appliance groups, appliances, their ports, certificates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appliance_groups",
        sa.Column("group_id", sa.String(36),
                  sa.ForeignKey("loxilb_groups.id", ondelete="CASCADE",
                                name="fk_appliance_groups_group_id"),
                  primary_key=True),
        sa.Column("vip_network_id", sa.String(36), nullable=False),
        sa.Column("flavor_key", sa.String(64), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("security_group_id", sa.String(36), nullable=True),
        sa.Column("data_security_group_id", sa.String(36), nullable=True),
        sa.Column("server_group_id", sa.String(36), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_appliance_groups_flavor_key", "appliance_groups", ["flavor_key"])
    op.create_table(
        "appliances",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("group_id", sa.String(36),
                  sa.ForeignKey("loxilb_groups.id", ondelete="CASCADE",
                                name="fk_appliances_group_id"),
                  nullable=False),
        sa.Column("server_id", sa.String(36), nullable=True),
        sa.Column("management_address", sa.String(64), nullable=True),
        sa.Column("role", sa.String(32), nullable=True),
        sa.Column("cert_serial", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_appliances_group_id", "appliances", ["group_id"])
    op.create_table(
        "appliance_ports",
        sa.Column("port_id", sa.String(36), primary_key=True),
        sa.Column("appliance_id", sa.String(36),
                  sa.ForeignKey("appliances.id", ondelete="CASCADE",
                                name="fk_appliance_ports_appliance_id"),
                  nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("network_id", sa.String(36), nullable=False),
        sa.Column("subnet_id", sa.String(36), nullable=True),
        sa.Column("mac_address", sa.String(32), nullable=True),
        sa.Column("ip_address", sa.String(64), nullable=True),
        sa.Column("prefix_length", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_appliance_ports_appliance_id", "appliance_ports", ["appliance_id"])
    op.create_table(
        "appliance_certificates",
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("appliance_id", sa.String(36), nullable=True),
        sa.Column("common_name", sa.String(255), nullable=False),
        sa.Column("cert_pem", sa.Text, nullable=False),
        sa.Column("key_pem", sa.Text, nullable=True),
        sa.Column("not_after", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("kind IN ('ca', 'client', 'server')",
                           name="ck_appliance_certificates_kind"),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_appliance_certificates_kind", "appliance_certificates", ["kind"])
    op.create_table(
        "appliance_member_subnets",
        sa.Column("loadbalancer_id", sa.String(36), primary_key=True),
        sa.Column("subnet_id", sa.String(36), primary_key=True),
        sa.Column("group_id", sa.String(36),
                  sa.ForeignKey("loxilb_groups.id", ondelete="CASCADE",
                                name="fk_appliance_member_subnets_group_id"),
                  nullable=False),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_appliance_member_subnets_group_id", "appliance_member_subnets",
                    ["group_id"])
    op.create_table(
        "appliance_topology_overrides",
        sa.Column("loadbalancer_id", sa.String(36), primary_key=True),
        sa.Column("topology", sa.String(32), nullable=False),
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("appliance_topology_overrides")
    op.drop_table("appliance_member_subnets")
    op.drop_table("appliance_certificates")
    op.drop_table("appliance_ports")
    op.drop_table("appliances")
    op.drop_table("appliance_groups")
