"""The registry through which an earlier app's events reach a later app (marketplace.reactions)."""

import pytest
from django.db import transaction

from marketplace import reactions
from transactions import hooks


def test_transactions_subscribes_to_published_versions_at_start():
    assert hooks.version_published in reactions.subscribers(reactions.VERSION_PUBLISHED)


@pytest.mark.django_db(transaction=True)
def test_subscribers_run_only_after_commit_and_not_after_rollback():
    seen = []
    event = "tests.something.happened"
    reactions.subscribe(event, lambda *, thing_id: seen.append(thing_id))
    with transaction.atomic():
        reactions.announce_on_commit(event, thing_id=1)
        assert seen == []
    assert seen == [1]
    with pytest.raises(RuntimeError), transaction.atomic():
        reactions.announce_on_commit(event, thing_id=2)
        raise RuntimeError
    assert seen == [1]
