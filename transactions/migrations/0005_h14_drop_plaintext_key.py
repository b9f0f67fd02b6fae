from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("transactions", "0004_h14_license_keys"),
    ]

    operations = [
        # A default first, so the removal can be reversed (the column comes back empty).
        migrations.AlterField(
            model_name="license",
            name="secret_key",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.RemoveField(model_name="license", name="secret_key"),
    ]
