# Resonance application image: worker, sink, simulator, migrations, CLI.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md* ./
COPY resonance ./resonance
COPY processors ./processors
COPY streams ./streams
COPY warehouse ./warehouse
COPY dashboards ./dashboards
RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin resonance \
    && mkdir -p /data/refs && chown -R resonance:resonance /data

# /data/refs is where the compose `references` volume mounts: owned by the app user so
# a fresh named volume inherits a writable directory.
USER resonance
WORKDIR /data
ENTRYPOINT ["resonance"]
CMD ["--help"]
