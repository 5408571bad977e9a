# The service image: one image for the ingress, the worker and the demo, which
# differ only in their command (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a source change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p streams ingest projections writeback jiraclient reconcile service jira_sandbox bench \
    && for package in streams ingest projections writeback jiraclient reconcile service jira_sandbox bench; do \
         touch "$package/__init__.py"; done \
    && pip install . \
    && pip uninstall -y naumu-jira-sync

COPY streams ./streams
COPY ingest ./ingest
COPY projections ./projections
COPY writeback ./writeback
COPY jiraclient ./jiraclient
COPY reconcile ./reconcile
COPY service ./service
COPY jira_sandbox ./jira_sandbox
COPY bench ./bench
RUN pip install --no-deps .

RUN useradd --create-home --uid 10001 naumu && mkdir -p /var/lib/naumu && chown naumu /var/lib/naumu
USER naumu

# The demo keeps its state (var/demo) under the working directory.
WORKDIR /var/lib/naumu
ENV STATE_DIR=/var/lib/naumu/state \
    WORKER_WEB_HOST=0.0.0.0

ENTRYPOINT ["naumu-jira"]
CMD ["--help"]
