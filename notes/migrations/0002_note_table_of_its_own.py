# The table and its index get the notes app's names; the rows stay where they are.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelTable(name="note", table=None),
        migrations.RenameIndex(model_name="note", new_name="notes_owner_updated", old_name="mcpserver_n_owner_i_67787f_idx"),
    ]
