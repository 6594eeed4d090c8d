from django.urls import path

from guard import views

urlpatterns = [
    path("findings/", views.findings, name="findings"),
    path("findings/suppress/", views.suppress, name="finding_suppress"),
    path("findings/suppressions/<int:pk>/revoke/", views.revoke, name="finding_suppression_revoke"),
    path("drift/", views.drift, name="drift"),
    path("users/", views.users, name="users"),
    path("users/invite/", views.user_invite, name="user_invite"),
    path("users/<int:pk>/role/", views.user_role, name="user_role"),
    path("users/<int:pk>/active/", views.user_active, name="user_active"),
    path("users/<int:pk>/unlock/", views.user_unlock, name="user_unlock"),
    path(
        "users/set-password/<uidb64>/<token>/",
        views.SetPasswordView.as_view(),
        name="user_set_password",
    ),
]
