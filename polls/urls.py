"""The portal's own URLs (the admin has its own): live results, CSV downloads and the audit
pack per poll."""

from django.urls import path

from polls import views

app_name = "polls"

urlpatterns = [
    path("<int:poll_id>/results.json", views.results_json, name="results-json"),
    path("<int:poll_id>/results.csv", views.results_csv, name="results-csv"),
    path("<int:poll_id>/votes.csv", views.votes_csv, name="votes-csv"),
    path("<int:poll_id>/audit-pack.zip", views.audit_pack_zip, name="audit-pack-zip"),
]
