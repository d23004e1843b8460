from pathlib import Path

from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render

from .models import Visit

MESSAGE_FILE = Path(__file__).resolve().parent / "message.txt"


def index(request):
    Visit.objects.create(path=request.path[:255])
    message = MESSAGE_FILE.read_text(encoding="utf-8").strip()
    return render(
        request,
        "pages/index.html",
        {"message": message, "visits": Visit.objects.count()},
    )


def health(request):
    # Prove the database is reachable without writing anything.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return HttpResponse("ok", content_type="text/plain")
