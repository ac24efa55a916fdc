# Named 0002_robust as asked (the lead renumbers on merge); it follows 0008_run_lease.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('kata', '0009_kata_model'),
    ]

    operations = [
        migrations.AddField(
            model_name='kata',
            name='archived',
            field=models.BooleanField(default=False, help_text='Retired: hidden from learners, its attempts kept for review. A kata with attempts cannot be deleted; archive it instead.'),
        ),
        migrations.AlterField(
            model_name='attempt',
            name='kata',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='attempts', to='kata.kata'),
        ),
        migrations.AlterField(
            model_name='draft',
            name='kata',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='drafts', to='kata.kata'),
        ),
    ]
