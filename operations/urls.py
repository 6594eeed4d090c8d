from django.urls import path

from operations import views

app_name = "operations"

urlpatterns = [
    path("", views.operation_list, name="list"),
    path("<int:pk>/", views.operation_detail, name="detail"),
    path("<int:pk>/cancel/", views.operation_cancel, name="cancel"),
    path("<int:pk>/approve/", views.operation_approve, name="approve"),
    path("<int:pk>/reject/", views.operation_reject, name="reject"),
    path("new/<slug:kind>/", views.operation_new, name="new"),
]
