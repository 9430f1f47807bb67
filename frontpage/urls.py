"""The issuer URL: the front page for people, the authorization-server metadata for programs."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.front_page, name="front-page"),
]
