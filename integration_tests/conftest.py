"""A real Qdrant server for integration tests: ``QDRANT_URL``, or a pinned image via testcontainers.

Where neither is available every integration test is skipped, and the reason is shown in the
pytest summary (``-ra``). Nothing here ever passes silently without a server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

# Pinned so that a run is reproducible; override with QDRANT_IMAGE to test another version.
QDRANT_IMAGE = os.environ.get("QDRANT_IMAGE", "qdrant/qdrant:v1.20.0")


def _docker_available() -> str | None:
    """None when a Docker engine answers, else why not."""
    try:
        import docker
    except ImportError:
        return "the docker Python package is not installed"
    try:
        docker.from_env().ping()
    except Exception as error:  # noqa: BLE001 - any failure means "no engine here"
        return f"no Docker engine ({type(error).__name__})"
    return None


@dataclass(frozen=True)
class QdrantServer:
    url: str
    grpc_port: int


@pytest.fixture(scope="session")
def qdrant_server() -> Iterator[QdrantServer]:
    url = os.environ.get("QDRANT_URL")
    if url:
        # Qdrant serves gRPC on 6334 unless configured otherwise.
        yield QdrantServer(url, int(os.environ.get("QDRANT_GRPC_PORT", "6334")))
        return
    why = _docker_available()
    if why is not None:
        pytest.skip(f"no Qdrant server: QDRANT_URL is not set and {why} to start {QDRANT_IMAGE}")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    container = DockerContainer(QDRANT_IMAGE).with_exposed_ports(6333, 6334)
    with container:
        wait_for_logs(container, "Qdrant gRPC listening", timeout=60)
        host = container.get_container_host_ip()
        yield QdrantServer(
            f"http://{host}:{container.get_exposed_port(6333)}",
            int(container.get_exposed_port(6334)),
        )


@pytest.fixture(scope="session")
def qdrant_url(qdrant_server: QdrantServer) -> str:
    return qdrant_server.url


@pytest.fixture(scope="session")
def qdrant_grpc_port(qdrant_server: QdrantServer) -> int:
    return qdrant_server.grpc_port


@pytest.fixture(scope="session")
def qdrant_api_key() -> str | None:
    return os.environ.get("QDRANT_API_KEY")


@pytest.fixture
def collection_name() -> str:
    return f"it_{uuid.uuid4().hex[:12]}"
