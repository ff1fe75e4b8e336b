# The metamon image: API, CLI and (as they land) exporter, scheduler and agents.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY agents agents
COPY exporter exporter
COPY monitoring monitoring
COPY prometheus prometheus
COPY elasticsearch elasticsearch
RUN pip install --no-cache-dir .
ENV METAMON_API_HOST=0.0.0.0
EXPOSE 8000
CMD ["metamon", "serve"]
