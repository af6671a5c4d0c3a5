from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "TextVote"
admin.site.site_title = "TextVote"
admin.site.index_title = "Polls and organisers"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
