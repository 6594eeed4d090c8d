"""sync_security_groups mirrors the EC2 groups in front of databases (sandbox)."""

from __future__ import annotations

import pytest

from estate import aws, checks
from estate import models as m
from guard.models import SecurityGroup
from guard.services import sync_security_groups

pytestmark = pytest.mark.django_db
ROLE = "arn:aws:iam::111111111111:role/EstateSync"


def _group(ec2, name: str, cidr: str | None, port: int = 5432) -> str:
    vpc_id = aws.call(ec2, "describe_vpcs")["Vpcs"][0]["VpcId"]
    gid = aws.call(ec2, "create_security_group", GroupName=name, Description=name, VpcId=vpc_id)[
        "GroupId"
    ]
    if cidr:
        aws.call(
            ec2,
            "authorize_security_group_ingress",
            GroupId=gid,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "IpRanges": [{"CidrIp": cidr}],
                }
            ],
        )
    return gid


def _instance(account: m.Account, name: str, groups: list[str]) -> m.DbInstance:
    return m.DbInstance.objects.create(
        account=account,
        region="us-east-1",
        identifier=name,
        arn=f"arn:aws:rds:us-east-1:{account.account_id}:db:{name}",
        engine="postgres",
        engine_version="16.3",
        port=5432,
        storage_encrypted=True,
        vpc_security_group_ids=groups,
    )


def test_sync_mirrors_referenced_groups_and_the_posture_sees_open_ones(sandbox):
    # given an account with an open and a private group in EC2, and one unrelated group
    account = m.Account.objects.create(account_id="111111111111", name="prod", role_arn=ROLE)
    ec2 = aws.client(account, "us-east-1", "ec2", mutating=True)
    open_gid = _group(ec2, "db-open", "0.0.0.0/0")
    private_gid = _group(ec2, "db-private", "10.0.0.0/8")
    _group(ec2, "web", "0.0.0.0/0", port=443)
    db = _instance(account, "orders", [open_gid, private_gid])
    # when the groups are synced
    result = sync_security_groups(account, "us-east-1")
    # then only the referenced groups are mirrored, rules normalised
    assert result.created == 2
    assert set(SecurityGroup.objects.values_list("group_id", flat=True)) == {open_gid, private_gid}
    mirrored = SecurityGroup.objects.get(group_id=open_gid)
    assert mirrored.name == "db-open"
    assert mirrored.ingress[0]["cidrs"] == ["0.0.0.0/0"]
    assert mirrored.ingress[0]["from_port"] == 5432
    # and the posture flags the database behind the open group
    found = [
        f for f in checks.evaluate() if f.resource_arn == db.arn and f.rule.id == "SG-OPEN-DB-PORT"
    ]
    assert [g["group_id"] for g in found[0].evidence["groups"]] == [open_gid]


def test_resync_writes_nothing_when_unchanged_and_drops_unreferenced_groups(sandbox):
    account = m.Account.objects.create(account_id="111111111111", name="prod", role_arn=ROLE)
    ec2 = aws.client(account, "us-east-1", "ec2", mutating=True)
    gid = _group(ec2, "db", "10.0.0.0/8")
    db = _instance(account, "orders", [gid])
    sync_security_groups(account, "us-east-1")
    again = sync_security_groups(account, "us-east-1")
    assert (again.created, again.updated, again.removed) == (0, 0, 0)
    # once nothing references it, the group leaves the mirror
    m.DbInstance.objects.filter(pk=db.pk).update(vpc_security_group_ids=[])
    result = sync_security_groups(account, "us-east-1")
    assert result.removed == 1
    assert result.api_calls == 0
    assert not SecurityGroup.objects.exists()


def test_a_rule_change_in_ec2_is_picked_up(sandbox):
    account = m.Account.objects.create(account_id="111111111111", name="prod", role_arn=ROLE)
    ec2 = aws.client(account, "us-east-1", "ec2", mutating=True)
    gid = _group(ec2, "db", None)
    _instance(account, "orders", [gid])
    sync_security_groups(account, "us-east-1")
    assert SecurityGroup.objects.get(group_id=gid).open_to_world(5432) == []
    aws.call(
        ec2,
        "authorize_security_group_ingress",
        GroupId=gid,
        IpPermissions=[
            {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ],
    )
    result = sync_security_groups(account, "us-east-1")
    assert result.updated == 1
    assert SecurityGroup.objects.get(group_id=gid).open_to_world(5432)


def test_sync_all_reports_a_failing_scope_and_carries_on(sandbox, monkeypatch):
    from guard import services

    # given two accounts, one of which AWS refuses
    good = m.Account.objects.create(account_id="111111111111", name="good", role_arn=ROLE)
    bad = m.Account.objects.create(account_id="222222222222", name="bad", role_arn=ROLE)
    ec2 = aws.client(good, "us-east-1", "ec2", mutating=True)
    gid = _group(ec2, "db", "0.0.0.0/0")
    _instance(good, "orders", [gid])
    _instance(bad, "billing", ["sg-0123"])
    real = services.sync_security_groups

    def refusing(account, region, **kw):
        if account.pk == bad.pk:
            raise aws.AwsAccessDenied("UnauthorizedOperation", "not allowed: ec2:Describe*")
        return real(account, region, **kw)

    monkeypatch.setattr(services, "sync_security_groups", refusing)
    # when every account is synced by the periodic task
    from guard.tasks import sync_security_groups_task

    errors = sync_security_groups_task()
    # then the failure is reported and the good account is mirrored
    assert list(errors) == ["222222222222/us-east-1"]
    assert "UnauthorizedOperation" in errors["222222222222/us-east-1"]
    assert SecurityGroup.objects.filter(account=good, group_id=gid).exists()
