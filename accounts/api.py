"""Accounts API: thin views that parse input, call one service and shape output."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import permissions, selectors, services
from accounts.models import ApiToken, Invitation, Membership, Organization
from accounts.security import lockout_message
from marketplace import errors
from marketplace.serializers import ModelSerializer


class OrganizationBriefSerializer(ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "name_en", "kind"]


class OrganizationSerializer(ModelSerializer):
    verified_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    # Declared because read-only model fields lose `allow_blank`, and centers have no category.
    buyer_category = serializers.ChoiceField(
        choices=Organization.BuyerCategory.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "name_en",
            "kind",
            "business_number",
            "buyer_category",
            "verification",
            "verified_by",
            "verified_at",
            "rejection_reason",
            "created_at",
        ]
        read_only_fields = fields


class MembershipSerializer(ModelSerializer):
    organization = OrganizationBriefSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["organization", "role"]


class InvitationSerializer(ModelSerializer):
    organization = OrganizationBriefSerializer(read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "organization", "email", "role", "state", "created_at", "expires_at", "responded_at"]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField()
    memberships = MembershipSerializer(many=True, help_text="Accepted memberships only.")
    invitations = InvitationSerializer(many=True, help_text="Open invitations to this address.")


class ApiTokenSerializer(ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "revoked_at",
            "revoked_reason",
            "active",
        ]
        read_only_fields = fields


class NewTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The key: shown only now.")
    id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class SignupAnswerSerializer(serializers.Serializer):
    detail = serializers.CharField()


class MemberSerializer(ModelSerializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "created_at"]


class MemberInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class RoleInputSerializer(serializers.Serializer):
    """A member's new role: sent with PATCH, yet never partial, since the role is all there is to
    change (a PATCH without it is a 400)."""

    role = serializers.ChoiceField(choices=Membership.Role.choices)

    # drf-spectacular documents a PATCH body as partial (every field optional) by setting this;
    # it stays False so the schema says `role` is required.
    partial = property(lambda self: False, lambda self, value: None)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class TokenInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
    name = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text="A label for your token list."
    )


class SignupOrganizationSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[Organization.Kind.CENTER, Organization.Kind.BUYER])
    name = serializers.CharField(max_length=200)
    name_en = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    business_number = serializers.CharField(max_length=20)
    buyer_category = serializers.ChoiceField(
        choices=Organization.BuyerCategory.choices, required=False, allow_blank=True, default=""
    )


class SignupSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, min_length=1, max_length=128)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    organization = SignupOrganizationSerializer()
    applicant_position = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    applicant_phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    accept_terms = serializers.BooleanField(
        required=False, default=False, help_text="agreement to the terms of service (/terms/): required"
    )
    accept_privacy = serializers.BooleanField(
        required=False,
        default=False,
        help_text="agreement to the collection and use of personal data (/privacy-policy/): required",
    )


class AuthThrottled:
    throttle_scope = "auth"


class TokenView(AuthThrottled, APIView):
    """Exchange an e-mail and password for a new API token, valid for API_TOKEN_DAYS days (30 by
    default). Tokens are listed and revoked under /api/v1/auth/tokens/; a password change or
    reset revokes them all."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=TokenInputSerializer, responses=NewTokenSerializer)
    def post(self, request):
        data = TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # django-axes watches this call (it needs the Django request) and refuses locked-out
        # credentials; the lockout answer itself is a 429 from its middleware.
        user = authenticate(
            request._request, email=data.validated_data["email"], password=data.validated_data["password"]
        )
        if user is None:
            if getattr(request._request, "axes_locked_out", False):
                return Response({"detail": lockout_message()}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise errors.ApplicationError(_("The e-mail address or password is wrong."))
        token, key = services.api_token_create(actor=user, user=user, name=data.validated_data["name"])
        return Response({"token": key, "id": token.pk, "expires_at": token.expires_at})


class ApiTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your own API tokens (others' are not found). DELETE revokes one; the list keeps it,
    marked inactive."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return selectors.api_tokens_of(self.request.user)

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        services.api_token_revoke(actor=request.user, token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class SignupView(AuthThrottled, APIView):
    """Register an account and an organization pending verification by an operator. The answer
    is the same whether or not the address has an account: an e-mail to the address says what
    to do next (confirm the new account, or log in / reset the password)."""

    permission_classes = [AllowAny]

    @extend_schema(request=SignupSerializer, responses={202: SignupAnswerSerializer})
    def post(self, request):
        data = SignupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_signup(**data.validated_data)
        return Response(
            {"detail": _("Check your e-mail: the message sent to the address says how to continue.")},
            status=status.HTTP_202_ACCEPTED,
        )


def _me(user) -> dict:
    memberships = Membership.objects.filter(user=user).select_related("organization")
    return MeSerializer(
        {
            "email": user.email,
            "name": user.name,
            "memberships": memberships,
            "invitations": selectors.invitations_for(user).select_related("organization"),
        }
    ).data


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(_me(request.user))


class OrganizationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = OrganizationSerializer
    filterset_fields = ["kind", "verification", "buyer_category"]

    def get_queryset(self):
        return selectors.organizations_visible_to(self.request.user).select_related("verified_by")

    @extend_schema(request=None, responses=OrganizationSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        org = services.organization_verify(actor=request.user, organization=self.get_object())
        return Response(OrganizationSerializer(org).data)

    @extend_schema(request=ReasonSerializer, responses=OrganizationSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        org = services.organization_reject(
            actor=request.user, organization=self.get_object(), reason=data.validated_data["reason"]
        )
        return Response(OrganizationSerializer(org).data)


class MemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Members of one organization: visible to its members and operators (404 otherwise)."""

    serializer_class = MemberSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def organization(self) -> Organization:
        if not hasattr(self, "_organization"):
            org = get_object_or_404(
                selectors.organizations_visible_to(self.request.user), pk=self.kwargs["organization_pk"]
            )
            if not permissions.membership_view(self.request.user, org):
                raise errors.NotFound(_("Not found."))
            self._organization = org
        return self._organization

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return selectors.organization_members(self.organization())

    @extend_schema(
        request=MemberInputSerializer,
        responses={201: InvitationSerializer},
        description="Invite a person: they become a member when they accept (the answer is the "
        "invitation). Only verified organizations invite, INVITATIONS_PER_DAY a day.",
    )
    def create(self, request, *args, **kwargs):
        data = MemberInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = services.membership_invite(
            actor=request.user, organization=self.organization(), **data.validated_data
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RoleInputSerializer, responses=MemberSerializer)
    def partial_update(self, request, *args, **kwargs):
        data = RoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            actor=request.user, membership=self.get_object(), role=data.validated_data["role"]
        )
        return Response(MemberSerializer(membership).data)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        services.membership_remove(actor=request.user, membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrganizationInvitationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """An organization's invitations (members and operators see them); DELETE withdraws a
    pending one (managers, operators). Invite with POST .../members/."""

    serializer_class = InvitationSerializer
    filterset_fields = ["state"]

    def organization(self) -> Organization:
        return MemberViewSet.organization(self)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        return selectors.organization_invitations(self.organization())

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        services.invitation_revoke(actor=request.user, invitation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyInvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Open invitations to your address; accept or decline them."""

    serializer_class = InvitationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        return selectors.invitations_for(self.request.user).select_related("organization")

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        invitation = services.invitation_accept(actor=request.user, invitation=self.get_object())
        return Response(InvitationSerializer(invitation).data)

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        invitation = services.invitation_decline(actor=request.user, invitation=self.get_object())
        return Response(InvitationSerializer(invitation).data)
