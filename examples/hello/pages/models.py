from django.db import models


class Visit(models.Model):
    at = models.DateTimeField(auto_now_add=True)
    path = models.CharField(max_length=255)

    def __str__(self):
        return f"{self.path} at {self.at}"
