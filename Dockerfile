# The TechFlow Ops image for docker-compose.yaml: the official Airflow image plus this project,
# installed from the same requirements.lock as the native setup (`make setup`), so the
# containers run exactly the versions CI tested.
FROM apache/airflow:3.3.2-python3.11

ENV TECHFLOW_HOME=/opt/techflow
WORKDIR /opt/techflow

COPY --chown=airflow:0 requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 plugins ./plugins
RUN pip install --no-cache-dir --no-deps .

COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 include ./include
COPY --chown=airflow:0 docker ./docker
COPY --chown=airflow:0 scripts ./scripts

# Named volumes start as a copy of these folders; group 0 may write, as in the official
# image, so any AIRFLOW_UID (always run with gid 0) can use them.
USER root
RUN mkdir -p /opt/techflow/data /opt/airflow/config /opt/airflow/logs \
    && chown -R airflow:0 /opt/techflow /opt/airflow/config /opt/airflow/logs \
    && chmod -R g+rwX /opt/techflow /opt/airflow/config /opt/airflow/logs
USER airflow
WORKDIR /opt/airflow
