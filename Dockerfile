FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY dispatch ./dispatch
COPY simulator ./simulator
RUN pip install --no-cache-dir . && useradd --system --uid 10001 dispatch
USER dispatch
EXPOSE 8000
CMD ["dispatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
