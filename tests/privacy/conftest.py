import pytest

from tests.transactions.factories import make_world


@pytest.fixture
def world(operator_org, operator, center, buyer):
    return make_world(operator_org, operator, center, buyer)
