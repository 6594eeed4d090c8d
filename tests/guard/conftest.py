from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from estate.roles import ADMIN, OPERATOR, VIEWER


def _user(name: str, role: str | None) -> User:
    user = User.objects.create_user(name, password=f"pw-{name}")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer(db) -> User:
    return _user("vera", VIEWER)


@pytest.fixture
def admin(db) -> User:
    return _user("adam", ADMIN)


@pytest.fixture
def nobody(db) -> User:
    return _user("nina", None)


@pytest.fixture
def operator(db) -> User:
    return _user("otto", OPERATOR)
