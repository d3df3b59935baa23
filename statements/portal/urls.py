from django.urls import path

from statements.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("projects/", views.projects, name="projects"),
    path("projects/<int:pk>/", views.project, name="project"),
    path("statements/", views.statements, name="statements"),
    path("statements/<int:pk>/", views.statement, name="statement"),
    path("statements/<int:pk>/pdf/", views.statement_pdf, name="statement_pdf"),
    path("charges/", views.charges, name="charges"),
    path("charges/<int:pk>/", views.charge, name="charge"),
    path("charges.csv", views.charges_csv, name="charges_csv"),
    path("delegates/", views.delegates, name="delegates"),
    path("delegates/<int:pk>/", views.delegate_edit, name="delegate_edit"),
    path("delegates/<int:pk>/remove/", views.delegate_remove, name="delegate_remove"),
]
