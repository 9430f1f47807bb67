# The Note model, taken over from the `mcpserver` app with its table (`mcpserver_note`) and rows:
# the table was created by mcpserver 0001, so this only tells Django the model is here now.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("mcpserver", "0003_note_moved_to_notes_app"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Note",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("title", models.CharField(max_length=200)),
                        ("body", models.TextField(blank=True)),
                        ("created", models.DateTimeField(auto_now_add=True)),
                        ("updated", models.DateTimeField(auto_now=True)),
                        (
                            "owner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="notes",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-updated", "-id"],
                        "db_table": "mcpserver_note",
                        "indexes": [models.Index(fields=["owner", "-updated"], name="mcpserver_n_owner_i_67787f_idx")],
                    },
                ),
            ]
        ),
    ]
