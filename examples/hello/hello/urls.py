from django.conf import settings
from django.conf.urls.static import static
from django.urls import path

from pages import views

urlpatterns = [
    path("", views.index, name="index"),
    path("health/", views.health, name="health"),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
