from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from portal.login_throttle import ThrottledAdminLoginForm

admin.site.site_header = "TextVote"
admin.site.site_title = "TextVote"
admin.site.index_title = "Polls and organisers"
admin.site.login_form = ThrottledAdminLoginForm

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("polls/", include("polls.urls")),
    # Browsers ask every site for /favicon.ico; the admin has none of its own.
    path("favicon.ico", RedirectView.as_view(url=static("polls/favicon.svg"))),
]
