"""Scoring of the table-clean benchmark (tools/table_clean_bench.py): pooled success rate
per attempt, percent cleared, tables cleared and simulated time per attempt, its Markdown
row, and the settings it takes from the bringup node set."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "table_clean_bench", ROOT / "tools/table_clean_bench.py"
)
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # dataclasses look their module up while being built
spec.loader.exec_module(bench)


def table(objects: int, attempts: int, picked: int, removed: int, sim_s: float, on_robot=0):
    return bench.TableResult(
        "ur5", objects, 0, objects, attempts, picked, removed, on_robot=on_robot, sim_s=sim_s
    )


def test_figures_pool_attempts_and_objects_over_tables() -> None:
    # 5 objects cleared in 6 attempts; 3 of 5 in 7 attempts, one of them pushed off the table.
    tables = [table(5, 6, 5, 5, 48.0), table(5, 7, 2, 3, 36.0, on_robot=1)]
    s = bench.summarise(tables)
    assert (s["tables"], s["objects"], s["attempts"], s["picked"], s["removed"]) == (
        2, 10, 13, 7, 8,
    )  # fmt: skip
    assert s["success_rate"] == pytest.approx(7 / 13)
    assert s["percent_cleared"] == pytest.approx(80.0)
    assert s["tables_cleared"] == 1 and s["on_robot"] == 1
    assert s["sim_s_per_attempt"] == pytest.approx(84.0 / 13)


def test_objects_left_are_counted_by_family_most_first() -> None:
    first, second = table(5, 6, 4, 4, 40.0), table(5, 5, 2, 2, 30.0)
    first.left, second.left = ["bowl"], ["mug", "bowl", "box"]
    left = bench.summarise([first, second])["left_by_family"]
    assert left == {"bowl": 2, "mug": 1, "box": 1} and next(iter(left)) == "bowl"


def test_no_attempts_scores_zero_rather_than_dividing_by_zero() -> None:
    s = bench.summarise([table(5, 0, 0, 0, 0.0)])
    assert s["success_rate"] == 0.0 and s["percent_cleared"] == 0.0 and s["tables_cleared"] == 0


def test_markdown_row_shows_percentages_and_cleared_tables() -> None:
    s = bench.summarise([table(5, 6, 5, 5, 48.0), table(5, 7, 2, 3, 36.0, on_robot=1)])
    row = bench.markdown([("ur5", 5, s)]).splitlines()[-1]
    assert row == "| ur5 | 5 | 2 | 13 | 53.8 % | 80.0 % | 80.0 % | 1/2 | 1 | 6.5 |"


def test_objects_left_without_a_grasp_leave_the_graspable_share() -> None:
    first, second = table(5, 6, 4, 4, 40.0), table(5, 5, 3, 3, 30.0)
    first.left, first.without_grasp = ["bowl"], ["bowl"]
    second.left = ["mug", "box"]
    s = bench.summarise([first, second])
    assert s["percent_cleared"] == pytest.approx(70.0)
    assert s["graspable_cleared"] == pytest.approx(100.0 * 7 / 9)
    assert s["without_grasp_by_family"] == {"bowl": 1}


def test_an_upside_down_bowl_has_no_grasp_and_a_box_has() -> None:
    from grasp_core.arm import load_arm_config
    from grasp_sim.objects import ObjectModel, Part, object_model
    from grasp_sim.robot import SimRobot

    config = load_arm_config(bench.ARMS_DIR / "ur5.yaml")
    box = ObjectModel("test_box", "box", (Part("box", (0.02, 0.02, 0.025)),))
    bowl = object_model("bowl", 3)  # every bowl is wider than the 85 mm opening
    robot = SimRobot(config, objects=[box, bowl], seed=0)
    try:
        robot.place_object(0, [0.5, 0.1, 0.03], np.array([1.0, 0.0, 0.0, 0.0]))
        robot.place_object(1, [0.45, -0.1, 0.05], np.array([0.0, 1.0, 0.0, 0.0]))  # flipped
        robot.step(1.0)
        assert bench.without_grasp(robot, np.ones(2, bool)).tolist() == [False, True]
        # Objects not asked about are never reported, whatever their grasps.
        assert not bench.without_grasp(robot, np.array([False, False])).any()
        assert not bench.without_grasp(robot, np.array([True, False])).any()
    finally:
        robot.close()


def test_settings_are_the_bringup_node_sets() -> None:
    p = bench.node_parameters("ur5", "grconvnet")
    assert p["grasp_transform"]["approach"] == "table_normal"
    assert p["grasp_transform"]["grasp_depth_m"] == pytest.approx(0.04)
    assert p["grasp_inference"]["max_grasps"] == 10
    assert p["grasp_executor"]["backend"] == "builtin"
    assert p["grasp_executor"]["arm_config"].endswith("arms/ur5.yaml")
