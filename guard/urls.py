from django.urls import path

from guard import views

urlpatterns = [
    path("findings/", views.findings, name="findings"),
    path("findings/suppress/", views.suppress, name="finding_suppress"),
    path("findings/suppressions/<int:pk>/revoke/", views.revoke, name="finding_suppression_revoke"),
]
