# The metamon image: the server wheel (API, exporter, indexer, worker, scheduler and the CLI), run as an
# unprivileged user. The build context is only what .dockerignore lets through.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE ./
COPY agents agents
COPY exporter exporter
COPY monitoring monitoring
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/metamon --create-home metamon \
    && install -d -o metamon -g metamon /run/secrets/metamon  # a new volume mounted here starts as theirs
COPY docker/entrypoint.sh docker/generate-secrets.sh /usr/local/bin/
USER 10001:10001
WORKDIR /var/lib/metamon
ENV METAMON_API_HOST=0.0.0.0 PYTHONUNBUFFERED=1
EXPOSE 8000 9464
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["metamon", "serve"]
