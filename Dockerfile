# Production image: the estate package installed from a wheel, configured by the
# environment. The wheel carries every app and the templates and static files
# (setup.py); the image holds no source tree, and neither the sandbox nor moto
# (.dockerignore keeps sandbox/ out of the build; the estate[sandbox] extra is not
# installed), nor .venv, var/ or .git.

FROM python:3.12-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=estate.settings
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# An installed estate keeps its state (var/, staticfiles/) in the working directory.
WORKDIR /app
# manage.py only sets DJANGO_SETTINGS_MODULE; estate itself comes from site-packages.
COPY manage.py ./
# collectstatic needs a key but no database; the real key comes from the environment.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
RUN useradd --system --home /app estate && chown -R estate /app
USER estate
EXPOSE 8000
CMD ["gunicorn", "estate.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
