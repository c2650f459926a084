# Production image: gunicorn serving the app, static files by whitenoise, non-root.
# The same requirements file and the same manage.py commands as `make run`.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=rappi.settings.production \
    VAR_DIR=/app/var \
    HOST=0.0.0.0 \
    PORT=8000

WORKDIR /app
RUN groupadd --system rappi && useradd --system --gid rappi --home /app rappi

# Runtime requirements only: no local MongoDB-compatible server, no test tools.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs no databases: the local settings, with a throwaway key (so none is
# written under var/ in the image).
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DJANGO_SETTINGS_MODULE=rappi.settings.local python manage.py collectstatic --noinput -v0 \
    && chown -R rappi:rappi /app/var

USER rappi
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "docker/healthcheck.py"]
ENTRYPOINT ["docker/entrypoint.sh"]
CMD ["gunicorn", "rappi.wsgi:application", "-c", "gunicorn.conf.py"]
