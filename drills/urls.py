from django.urls import path

from drills import views

app_name = "drills"

urlpatterns = [
    path("drills/", views.drills_home, name="home"),
    path("drills/runs/<int:pk>/", views.run_detail, name="run"),
    path("drills/runs/<int:pk>/chart.json", views.run_chart, name="run_chart"),
    path("drills/history/", views.target_history, name="history"),
    path("drills/history/chart.json", views.history_chart, name="history_chart"),
    path("drills/schedules/", views.schedule_list, name="schedules"),
    path("drills/schedules/new/", views.schedule_edit, name="schedule_new"),
    path("drills/schedules/<int:pk>/", views.schedule_edit, name="schedule_edit"),
    path("drills/schedules/<int:pk>/delete/", views.schedule_delete, name="schedule_delete"),
    path("backups/", views.backups, name="backups"),
    path("backups.csv", views.backups_csv, name="backups_csv"),
]
