# The Note model moved to the `notes` app. Only Django's record of the models changes here: the
# table and its rows stay, and notes 0001 takes them over (notes 0002 then renames the table).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("mcpserver", "0002_revocation_notifications"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Note")]),
    ]
