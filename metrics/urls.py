from django.urls import path

from metrics import views

app_name = "metrics"

urlpatterns = [
    path("<slug:kind>/<int:pk>/charts/", views.charts, name="charts"),
    path("<slug:kind>/<int:pk>/charts/data.json", views.data, name="data"),
]
