# Load the Celery app with Django, so `kata.tasks` binds to it wherever it is imported (web server or worker).
from config.celery import app as celery_app

__all__ = ["celery_app"]
