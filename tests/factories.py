from __future__ import annotations

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import Membership, Organization, User
from accounts.validators import business_number_check_digit

PASSWORD = "correct-horse-battery-staple"


def valid_business_number(n: int) -> str:
    first_nine = f"{n:09d}"
    return first_nine + str(business_number_check_digit(first_nine))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.kr")
    name = factory.Sequence(lambda n: f"사용자{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    kind = Organization.Kind.BUYER
    name = factory.Sequence(lambda n: f"기관{n}")
    name_en = factory.Sequence(lambda n: f"Organization {n}")
    business_number = factory.Sequence(lambda n: valid_business_number(n + 100000))
    buyer_category = factory.LazyAttribute(
        lambda o: Organization.BuyerCategory.SME if o.kind == Organization.Kind.BUYER else ""
    )
    verification = Organization.Verification.VERIFIED
    verified_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.verification == Organization.Verification.VERIFIED else None
    )
    group = factory.LazyAttribute(lambda o: Group.objects.create(name=f"org:{o.business_number}"))


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.ANALYST

    @factory.post_generation
    def join_group(obj, create, extracted, **kwargs):
        if create:
            obj.user.groups.add(obj.organization.group)


def member(organization: Organization, *roles: str, **user_kwargs) -> User:
    """A user holding `roles` in `organization`."""
    user = UserFactory(**user_kwargs)
    for role in roles:
        MembershipFactory(user=user, organization=organization, role=role)
    return user
