"""The client-developer documentation: the pages of docs/ as HTML, and the OpenAPI document."""

from django.urls import path

from . import docs

urlpatterns = [
    path("docs/", docs.page, name="docs"),
    path("docs/<slug:name>/", docs.page, name="docs-page"),
    path("api/schema/", docs.schema, name="api-schema"),
]
