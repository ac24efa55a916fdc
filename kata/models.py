from __future__ import annotations

from django.db import models
from django.urls import reverse


class Kata(models.Model):
    """A system-design exercise: a brief, a palette of parts, traffic and graded scenarios."""

    class Difficulty(models.TextChoices):
        BEGINNER = "beginner", "Beginner"
        INTERMEDIATE = "intermediate", "Intermediate"
        ADVANCED = "advanced", "Advanced"

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=120)
    summary = models.CharField(max_length=300, help_text="One sentence shown in the kata list.")
    difficulty = models.CharField(max_length=20, choices=Difficulty.choices, default=Difficulty.INTERMEDIATE)
    domain = models.CharField(max_length=60, blank=True)
    minutes_min = models.PositiveSmallIntegerField(default=20)
    minutes_max = models.PositiveSmallIntegerField(default=30)
    published = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("kata_detail", kwargs={"slug": self.slug})
