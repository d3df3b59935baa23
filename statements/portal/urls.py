from django.urls import path

from statements.portal import views, views_open

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("projects/", views.projects, name="projects"),
    path("projects/<int:pk>/", views.project, name="project"),
    path("open/", views_open.open_month_page, name="open_month"),
    path("projects/<int:pk>/open/", views_open.project_open, name="project_open"),
    path("projects/<int:pk>/disputes/", views_open.dispute_create, name="dispute_create"),
    path("projects/<int:pk>/budget/", views_open.budget_edit, name="budget_edit"),
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
