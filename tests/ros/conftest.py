"""Fixtures giving each ROS test its own context, executor and nodes (see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import DOMAIN_ID, TestGraph


@pytest.fixture
def ros_graph() -> Iterator[TestGraph]:
    """A TestGraph on this process's private domain, closed after the test."""
    with TestGraph(domain_id=DOMAIN_ID) as graph:
        yield graph
    assert not graph.context.ok(), "the test's rclpy context outlived it"
