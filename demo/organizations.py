"""Demo organizations and users, created through the same services as real ones."""

from __future__ import annotations

import os
from dataclasses import dataclass

from accounts import services as account_services
from accounts.models import Organization, User
from accounts.validators import business_number_check_digit
from marketplace.actors import SYSTEM


def demo_business_number(prefix: str) -> str:
    """A valid 사업자등록번호 from a 9-digit prefix."""
    return prefix + str(business_number_check_digit(prefix))


@dataclass(frozen=True)
class DemoOrg:
    key: str
    kind: str
    name: str
    name_en: str
    number_prefix: str
    buyer_category: str = ""


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    org: str
    roles: tuple[str, ...]


ORGANIZATIONS = [
    DemoOrg("operator", "operator", "장터 운영팀", "Jangteo Operations", "101820001"),
    DemoOrg("currency", "center", "경기지역화폐 운영센터", "Gyeonggi Local Currency Center", "124820002"),
    DemoOrg("company", "center", "기업데이터 센터", "Company Data Center", "214860003"),
    DemoOrg("jobs", "center", "경기일자리 센터", "Gyeonggi Jobs Center", "135820004"),
    DemoOrg("guarantee", "center", "신용보증 센터", "Credit Guarantee Center", "138820005"),
    DemoOrg("cafe", "buyer", "골목카페", "Golmok Cafe", "603810006", "sme"),
    DemoOrg("marketing", "buyer", "로컬마케팅랩", "Local Marketing Lab", "220870007", "large"),
    DemoOrg("lab", "buyer", "지역경제연구실", "Regional Economy Lab", "314820008", "research"),
    DemoOrg("cityhall", "buyer", "수원시청", "Suwon City Hall", "124830009", "public"),
]

USERS = [
    DemoUser("operator@jangteo.test", "운영자", "operator", ("operator",)),
    DemoUser("curator@center.jangteo.test", "김큐레이터", "currency", ("manager", "curator", "reviewer")),
    DemoUser("analyst@buyer.jangteo.test", "이분석", "cafe", ("analyst",)),
    DemoUser("manager@buyer.jangteo.test", "박매니저", "cafe", ("manager",)),
    DemoUser("company@center.jangteo.test", "정기업", "company", ("manager", "curator", "reviewer")),
    DemoUser("jobs@center.jangteo.test", "최일자리", "jobs", ("manager", "curator", "reviewer")),
    DemoUser("guarantee@center.jangteo.test", "한보증", "guarantee", ("manager", "curator", "reviewer")),
    DemoUser("marketing@buyer.jangteo.test", "윤마케팅", "marketing", ("manager", "analyst")),
    DemoUser("lab@buyer.jangteo.test", "강연구", "lab", ("manager", "analyst")),
    DemoUser("cityhall@buyer.jangteo.test", "조주무관", "cityhall", ("manager", "analyst")),
]


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD", "jangteo-demo")


def seed_accounts(*, log=print) -> dict[str, Organization]:
    """Create the demo organizations (verified) and users. Idempotent."""
    orgs: dict[str, Organization] = {}
    for spec in ORGANIZATIONS:
        number = demo_business_number(spec.number_prefix)
        org = Organization.objects.filter(business_number=number).first()
        if org is None:
            org = account_services.organization_create(
                actor=SYSTEM,
                kind=spec.kind,
                name=spec.name,
                name_en=spec.name_en,
                business_number=number,
                buyer_category=spec.buyer_category,
                verified=True,
            )
            log(f"  organization {org.name}")
        orgs[spec.key] = org
    for spec in USERS:
        user = User.objects.filter(email=spec.email).first()
        if user is None:
            user = User.objects.create_user(email=spec.email, password=demo_password(), name=spec.name)
        for role in spec.roles:
            if not user.memberships.filter(organization=orgs[spec.org], role=role).exists():
                account_services.membership_add(
                    actor=SYSTEM, organization=orgs[spec.org], email=spec.email, role=role
                )
    return orgs


def users_table() -> str:
    org_names = {o.key: o.name for o in ORGANIZATIONS}
    rows = [("e-mail", "organization", "roles")] + [
        (u.email, org_names[u.org], ", ".join(u.roles)) for u in USERS
    ]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width[i]) for i, cell in enumerate(r)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in width))
    return "\n".join(lines) + f"\n\npassword for every demo user: {demo_password()}"
