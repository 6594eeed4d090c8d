# Production image: the same code as the demo, configured by the environment.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY estate estate
COPY operations operations
COPY sandbox sandbox
RUN pip install --no-cache-dir .
COPY . .
# collectstatic needs a key but no database; the real key comes from the environment.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
RUN useradd --system --home /app estate && chown -R estate /app
USER estate
EXPOSE 8000
CMD ["gunicorn", "estate.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
