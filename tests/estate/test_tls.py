"""One TLS answer (estate.tls): the engine defaults, and the instance page, the cluster
page and the posture rule RDS-TLS agreeing where they used to disagree."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from estate import models as m
from estate import tls
from estate.roles import VIEWER
from guard import rules
from tests.factories import guard as builders

GROUP = "app-pg"


@pytest.mark.parametrize(
    ("engine", "version", "values", "enforced", "source"),
    [
        ("postgres", "16.3", {"rds.force_ssl": "1"}, True, "parameter"),
        ("postgres", "16.3", {"rds.force_ssl": "0"}, False, "parameter"),
        # RDS for PostgreSQL 15+ forces TLS by default; 14 and Aurora do not
        ("postgres", "16.3", {"rds.force_ssl": None}, True, "engine default"),
        ("postgres", "16.3", {}, True, "engine default"),
        ("postgres", "14.9", None, False, "engine default"),
        ("aurora-postgresql", "16.2", {"rds.force_ssl": ""}, False, "engine default"),
        ("sqlserver-se", "15.00", {"rds.force_ssl": "1"}, True, "parameter"),
        ("mysql", "8.0.36", {"require_secure_transport": "ON"}, True, "parameter"),
        ("aurora-mysql", "8.0.mysql_aurora.3.05.2", None, False, "engine default"),
        ("mariadb", "10.11.6", {"require_secure_transport": "off"}, False, "parameter"),
        # a parameter of the other family does not count
        ("mysql", "8.0.36", {"rds.force_ssl": "1"}, False, "engine default"),
        ("db2-se", "11.5", {}, None, "unknown engine"),
    ],
)
def test_decide_reads_the_engines_parameter_or_its_default(
    engine, version, values, enforced, source
):
    verdict = tls.decide(engine, version, group=GROUP, values=values)
    assert (verdict.enforced, verdict.source) == (enforced, source)
    assert bool(verdict.note) == (values is None and source == "engine default")


def test_oracle_is_decided_by_the_ssl_option():
    on = tls.decide("oracle-ee", "19", group="", values=None, options={"SSL", "TDE"})
    off = tls.decide("oracle-ee", "19", group="", values=None, options=set(), option_groups="og")
    assert (on.enforced, off.enforced) == (True, False)
    assert off.evidence() == {"option_groups": "og", "ssl_option": False}


# --- The pages and the rule give the same answer --------------------------------------


@pytest.fixture
def viewer_client(client, db):
    user = User.objects.create_user("tls-viewer")
    user.groups.add(Group.objects.get(name=VIEWER))
    client.force_login(user)
    return client


def _answers(client, row: Any) -> tuple[bool | None, bool]:
    """(what the resource's page says, whether the posture rule says "not enforced")."""
    name = "cluster" if isinstance(row, m.DbCluster) else "instance"
    response = client.get(reverse(name, args=[row.pk]))
    assert response.status_code == 200
    page = response.context["tls"].enforced
    assert response.context["tls_enforced"] is page
    finding = any(f.rule.id == "RDS-TLS" for f in rules.evaluate() if f.resource_arn == row.arn)
    return page, finding


def _group(acct: m.Account, name: str, scope: str, values: dict[str, str | None]) -> None:
    group = m.ParameterGroup.objects.create(
        account=acct,
        region="us-east-1",
        identifier=name,
        arn=f"arn:aws:rds:us-east-1:{acct.account_id}:{scope}-pg:{name}",
        scope=scope,
        family="x",
    )
    for key, value in values.items():
        m.Parameter.objects.create(group=group, name=key, value=value, source="engine-default")


@pytest.mark.django_db
def test_a_parameter_left_at_its_default_of_1_is_enforced_on_the_page_and_in_posture(
    viewer_client,
):
    # given RDS for PostgreSQL 16 whose mirrored group lists rds.force_ssl without a value
    # (AWS does so for a parameter left at the engine default, which is 1 from 15 on):
    # the page used to say "no" while the rule knew the default
    acct = builders.account()
    _group(acct, GROUP, m.ParameterGroup.Scope.INSTANCE, {"rds.force_ssl": None})
    row = builders.instance(acct, parameter_groups=[{"name": GROUP, "status": "in-sync"}])
    assert _answers(viewer_client, row) == (True, False)
    body = viewer_client.get(reverse("instance", args=[row.pk])).content.decode()
    assert "rds.force_ssl left at the engine default (1)" in body


@pytest.mark.django_db
def test_an_unmirrored_mysql_group_is_not_enforced_on_the_page_and_in_posture(viewer_client):
    # given MySQL with a default group Estate has not synced: the page used to say
    # "engine default" (no answer) while the rule raised RDS-TLS
    acct = builders.account()
    row = builders.instance(
        acct,
        engine="mysql",
        engine_version="8.0.36",
        parameter_groups=[{"name": "default.mysql8.0", "status": "in-sync"}],
    )
    assert _answers(viewer_client, row) == (False, True)


@pytest.mark.django_db
def test_the_cluster_page_reads_the_cluster_parameter_group_not_a_db_group_of_that_name(
    viewer_client,
):
    # given an Aurora cluster whose cluster parameter group leaves rds.force_ssl at 0,
    # and a DB parameter group of the same name (AWS names the two scopes separately)
    # that sets it: the page used to read whichever group it found first
    acct = builders.account()
    name = "default.aurora-postgresql16"
    _group(acct, name, m.ParameterGroup.Scope.INSTANCE, {"rds.force_ssl": "1"})
    _group(acct, name, m.ParameterGroup.Scope.CLUSTER, {"rds.force_ssl": "0"})
    row = builders.cluster(acct, parameter_group_name=name)
    assert _answers(viewer_client, row) == (False, True)
    # and a member's page gives its cluster's answer (members are judged there)
    member = row.instances.first()
    response = viewer_client.get(reverse("instance", args=[member.pk]))
    group = tls.parameter_group(acct.pk, "us-east-1", m.ParameterGroup.Scope.CLUSTER, name)
    assert response.context["tls"] == tls.for_cluster(row, group)


@pytest.mark.django_db
def test_the_instance_page_reads_the_db_parameter_group_not_a_cluster_group_of_that_name(
    viewer_client,
):
    acct = builders.account()
    _group(acct, "shared", m.ParameterGroup.Scope.CLUSTER, {"rds.force_ssl": "1"})
    _group(acct, "shared", m.ParameterGroup.Scope.INSTANCE, {"rds.force_ssl": "0"})
    row = builders.instance(acct, parameter_groups=[{"name": "shared", "status": "in-sync"}])
    assert _answers(viewer_client, row) == (False, True)


@pytest.mark.django_db
def test_an_oracle_instance_is_judged_by_its_option_group_on_the_page_and_in_posture(
    viewer_client,
):
    acct = builders.account()
    m.OptionGroup.objects.create(
        account=acct,
        region="us-east-1",
        identifier="ora-ssl",
        arn=f"arn:aws:rds:us-east-1:{acct.account_id}:og:ora-ssl",
        options=[{"name": "SSL"}],
    )
    secure = builders.instance(
        acct,
        engine="oracle-ee",
        engine_version="19.0.0.0.ru-2024-01.rur-2024-01.r1",
        iam_auth_enabled=False,
        option_groups=[{"name": "ora-ssl", "status": "in-sync"}],
    )
    plain = builders.instance(
        acct,
        engine="oracle-ee",
        engine_version="19.0.0.0.ru-2024-01.rur-2024-01.r1",
        iam_auth_enabled=False,
        option_groups=[{"name": "default:oracle-ee-19", "status": "in-sync"}],
    )
    assert _answers(viewer_client, secure) == (True, False)
    assert _answers(viewer_client, plain) == (False, True)
