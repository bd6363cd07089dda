"""The built-in kinematics on every configured arm's URDF: forward / inverse agreement,
unreachable targets, straight Cartesian paths, workspace refusal, path timing, the lean
toward the base of a grasp out of reach and the release tilt after a place."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from grasp_core.arm import load_arm_config
from grasp_core.gripper import GripperSpec
from grasp_executor.kinematics import (
    MAX_WAYPOINT_STEP_RAD,
    ArmKinematics,
    WorkspaceError,
    time_path,
)
from grasp_executor.planning import (
    LEAN_STEP_RAD,
    PickParams,
    PlanningError,
    grasp_versions,
    leaned_pose,
    pick_opening,
    place_pose,
    plan_pick,
    release_turns,
    released_pose,
    shake_path,
    twisted_pose,
    unplannable,
)

ARMS = Path(__file__).resolve().parents[2] / "src/grasp_bringup/config/arms"


@pytest.fixture(scope="module", params=sorted(p.stem for p in ARMS.glob("*.yaml")))
def arm(request) -> ArmKinematics:
    return ArmKinematics(load_arm_config(ARMS / f"{request.param}.yaml"))


def _pose(position, rotation: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rotation, position
    return out


def _down(kin: ArmKinematics) -> np.ndarray:
    """The grasp frame's orientation at home: approach straight down on every arm."""
    return kin.forward(kin.config.home)[:3, :3]


def _random_reachable(kin: ArmKinematics, rng: np.random.Generator) -> np.ndarray:
    """forward() of a random joint configuration within the limits whose grasp frame is in
    the workspace."""
    while True:
        q = kin.config.home + rng.uniform(-1.0, 1.0, kin.dof)
        pose = kin.forward(q)
        if kin.within_limits(q) and kin.config.workspace.contains(pose[:3, 3]):
            return pose


def test_home_and_places_are_reachable_inside_the_workspace(arm: ArmKinematics) -> None:
    config = arm.config
    at_home = arm.forward(config.home)
    assert at_home[2, 2] < -0.99  # approach straight down
    arm.check_workspace(at_home)
    for place in config.places.values():
        q = arm.inverse(_pose(place, at_home[:3, :3]), config.home)
        assert q is not None
        arm.joint_path(config.home, q)


def test_inverse_reaches_poses_of_forward(arm: ArmKinematics) -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        target = _random_reachable(arm, rng)
        q = arm.inverse(target, arm.config.home)
        assert q is not None
        assert arm.within_limits(q)
        reached = arm.forward(q)
        assert np.linalg.norm(reached[:3, 3] - target[:3, 3]) < 1e-3
        angle = Rotation.from_matrix(reached[:3, :3].T @ target[:3, :3]).magnitude()
        assert angle < 0.01


def test_inverse_solves_top_down_grasps_at_any_turn_over_the_table() -> None:
    # Pre-grasp poses of table-normal grasps on the UR5's table, wrist turned anywhere: all
    # are reachable, so each must be solved from home (uncapped solver steps missed 2 %).
    kin = ArmKinematics(load_arm_config(ARMS / "ur5.yaml"))
    down, centre = _down(kin), kin.config.table_center
    rng = np.random.default_rng(1)
    for _ in range(300):
        turn = Rotation.from_euler("z", rng.uniform(-np.pi, np.pi)).as_matrix()
        offset = [rng.uniform(-0.2, 0.25), rng.uniform(-0.35, 0.35), rng.uniform(0.1, 0.2)]
        target = _pose(centre + offset, turn @ down)
        q = kin.inverse(target, kin.config.home)
        assert q is not None, f"no solution for {target[:3, 3]}"
        np.testing.assert_allclose(kin.forward(q), target, atol=1e-3)


def test_forward_puts_the_grasp_frame_tool_offset_past_the_flange(arm: ArmKinematics) -> None:
    config = arm.config
    flange = ArmKinematics(replace(config, tool_offset=np.eye(4))).forward(config.home)
    np.testing.assert_allclose(arm.forward(config.home), flange @ config.tool_offset, atol=1e-9)
    # At home the gripper hangs below the flange.
    assert arm.forward(config.home)[2, 3] < flange[2, 3] - 0.05


def test_inverse_returns_none_out_of_reach(arm: ArmKinematics) -> None:
    # The workspace's far low corner, approached from below: past every arm's reach.
    ws = arm.config.workspace
    up = np.diag([1.0, -1.0, -1.0]) @ _down(arm)
    corner = [ws.upper[0], ws.upper[1], ws.lower[2]]
    assert arm.inverse(_pose(corner, up), arm.config.home, restarts=3) is None


def test_workspace_refuses_poses_outside(arm: ArmKinematics) -> None:
    centre = arm.config.table_center
    outside = _pose(centre - np.array([0.0, 0.0, 0.05]), _down(arm))  # under the table top
    with pytest.raises(WorkspaceError, match="outside"):
        arm.inverse(outside, arm.config.home)
    with pytest.raises(WorkspaceError):
        arm.cartesian_path(arm.config.home, outside)
    arm.check_workspace(_pose(centre + np.array([0.0, 0.0, 0.1]), _down(arm)))


def test_joint_path_refuses_to_leave_the_workspace(arm: ArmKinematics) -> None:
    # Swinging the first joint most of a half turn carries the grasp frame behind the base.
    goal = arm.config.home.copy()
    goal[0] += 0.9 * np.pi
    with pytest.raises(WorkspaceError):
        arm.joint_path(arm.config.home, goal)


def test_cartesian_path_stays_on_the_line(arm: ArmKinematics) -> None:
    centre = arm.config.table_center
    start = arm.inverse(_pose(centre + np.array([-0.1, -0.1, 0.2]), _down(arm)), arm.config.home)
    end = centre + np.array([0.05, 0.1, 0.05])
    path = arm.cartesian_path(start, _pose(end, _down(arm)), step_m=0.005)
    assert path is not None
    begin = arm.forward(start)[:3, 3]
    direction = (end - begin) / np.linalg.norm(end - begin)
    points = np.array([arm.forward(q)[:3, 3] for q in path])
    offsets = points - begin
    deviation = np.linalg.norm(offsets - np.outer(offsets @ direction, direction), axis=1)
    assert deviation.max() < 0.002
    np.testing.assert_allclose(points[-1], end, atol=1e-3)
    assert np.abs(np.diff(path, axis=0)).max() < 0.2


def test_time_path_runs_the_fastest_joint_at_the_speed_limit() -> None:
    path = np.array([[0.0, 0.0], [0.5, 0.1], [0.5, -0.9]])
    np.testing.assert_allclose(time_path(path, 0.5), [0.0, 1.0, 3.0])
    with pytest.raises(ValueError):
        time_path(path, 0.0)


def test_config_errors_name_the_file_and_key(tmp_path: Path) -> None:
    text = (ARMS / "ur5.yaml").read_text().replace("max_joint_speed:", "speed:")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ValueError, match=r"bad.yaml.*max_joint_speed"):
        load_arm_config(bad)


def test_release_tilts_the_gripper_in_place_after_the_place(arm: ArmKinematics) -> None:
    grasp = _pose(arm.config.table_center + np.array([0.0, 0.0, 0.03]), _down(arm))
    place = next(iter(arm.config.places.values()))
    params = PickParams(release_tilt_rad=0.6)
    plan = plan_pick(arm, arm.config.home, grasp, 0.04, place, params)
    placed = arm.forward(plan.release[0])
    np.testing.assert_allclose(placed, place_pose(place, grasp), atol=1e-3)
    np.testing.assert_allclose(plan.to_home[0], plan.release[-1])
    if arm.cartesian_path(plan.release[0], released_pose(placed, 0.6)) is None:
        # An arm that cannot tilt there (5-DoF) turns its wrist a quarter turn instead.
        np.testing.assert_allclose(arm.forward(plan.release[-1]), twisted_pose(placed), atol=1e-3)
        return
    released = arm.forward(plan.release[-1])
    np.testing.assert_allclose(released, released_pose(placed, 0.6), atol=1e-3)
    # The fingertips stay at the place while the approach axis turns 0.6 rad about y.
    np.testing.assert_allclose(
        [arm.forward(q)[:3, 3] for q in plan.release], np.tile(place, (len(plan.release), 1)),
        atol=1e-3,
    )  # fmt: skip
    turn = Rotation.from_matrix(placed[:3, :3].T @ released[:3, :3]).as_rotvec()
    np.testing.assert_allclose(turn, [0.0, 0.6, 0.0], atol=1e-3)


def test_a_shake_turns_the_gripper_about_the_place_and_comes_back() -> None:
    arm = ArmKinematics(load_arm_config(ARMS / "ur5.yaml"))
    place = next(iter(arm.config.places.values()))
    placed = place_pose(place, np.eye(4))
    at_place = arm.inverse(placed, arm.config.home)
    params = PickParams()
    path = shake_path(arm, at_place, placed, params)
    np.testing.assert_allclose(path[0], at_place)
    np.testing.assert_allclose(arm.forward(path[-1]), placed, atol=1e-3)
    assert np.abs(np.diff(path, axis=0)).max() <= MAX_WAYPOINT_STEP_RAD  # no jumps
    poses = [arm.forward(q) for q in path]
    # The fingertips stay over the place while the gripper visits every turn (the UR5
    # reaches all four there).
    tips = np.array([p[:3, 3] for p in poses])
    np.testing.assert_allclose(tips, np.tile(place, (len(poses), 1)), atol=2e-3)
    for name, turn in release_turns(placed, params.release_tilt_rad).items():
        nearest = min(np.abs(p[:3, :3] - turn[:3, :3]).max() for p in poses)
        assert nearest < 1e-3, f"the shake never turns the gripper {name}"


def test_a_width_at_the_max_opening_sent_as_float32_is_planned(arm: ArmKinematics) -> None:
    # The transform clamps widths to the max opening; grasp_interfaces/Grasp carries them as
    # float32, which rounds 0.085 up to 0.08500000089.
    grasp = _pose(arm.config.table_center + np.array([0.0, 0.0, 0.03]), _down(arm))
    place = next(iter(arm.config.places.values()))
    widest = arm.config.gripper.max_opening
    plan = plan_pick(arm, arm.config.home, grasp, float(np.float32(widest)), place)
    assert plan.opening == widest
    with pytest.raises(PlanningError, match="exceeds the gripper"):
        plan_pick(arm, arm.config.home, grasp, widest + 0.001, place)


def test_the_opening_margin_is_the_arms_grippers() -> None:
    narrow = GripperSpec(max_opening=0.07, opening_margin=0.005)  # a WidowX-like hand
    assert pick_opening(0.04, narrow) == pytest.approx(0.045)
    assert pick_opening(0.068, narrow) == pytest.approx(0.07)  # at most fully open
    with pytest.raises(PlanningError, match="exceeds the gripper"):
        pick_opening(0.071, narrow)


def test_a_leaned_grasp_leans_toward_the_base_and_keeps_its_fingertips_above_it() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        grasp = _pose(
            [*rng.uniform(-0.6, 0.6, 2), 0.02],
            Rotation.from_euler("xz", [np.pi, rng.uniform(-np.pi, np.pi)]).as_matrix(),
        )
        leaned = leaned_pose(grasp, 0.4, 0.08)
        np.testing.assert_allclose(leaned[:2, 3], grasp[:2, 3])
        approach = leaned[:3, 2]
        assert np.degrees(np.arccos(-approach[2])) == pytest.approx(np.degrees(0.4))
        # The approach points away from the base: the gripper comes in from the base's side.
        outward = grasp[:2, 3] / np.linalg.norm(grasp[:2, 3])
        assert approach[:2] @ outward == pytest.approx(np.sin(0.4))
        fingertips = leaned[:3, 3] + np.outer([-0.04, 0.04], leaned[:3, 0])
        assert fingertips[:, 2].min() == pytest.approx(grasp[2, 3])
    assert leaned_pose(_pose([0.0, 0.0, 0.02], np.diag([1.0, -1.0, -1.0])), 0.4, 0.08) is None


def test_grasp_versions_lean_step_by_step_each_with_its_half_turn() -> None:
    down = Rotation.from_euler("xz", [np.pi, 0.3]).as_matrix()
    grasp = _pose([0.4, 0.1, 0.02], down)
    versions = list(grasp_versions(grasp, 0.06, max_lean_rad=0.6))
    assert len(versions) == 3  # as given, 15 and 30 degrees: 45 would pass 0.6 rad
    np.testing.assert_allclose(versions[0][1], grasp)
    for k, (lean, pose, turned) in enumerate(versions):
        assert lean == pytest.approx(k * LEAN_STEP_RAD)
        assert np.arccos(-pose[2, 2]) == pytest.approx(k * LEAN_STEP_RAD, abs=1e-6)
        # The half turn: same origin and approach, closing axis reversed.
        np.testing.assert_allclose(turned[:3, 3], pose[:3, 3])
        np.testing.assert_allclose(turned[:3, 2], pose[:3, 2])
        np.testing.assert_allclose(turned[:3, 0], -pose[:3, 0])
    on_axis = _pose([0.0, 0.0, 0.02], down)  # nowhere to lean: only the grasp as given
    assert len(list(grasp_versions(on_axis, 0.06, max_lean_rad=0.6))) == 1


def test_the_widowx_reaches_leaned_grasps_past_half_a_metre() -> None:
    # Simulated tables left objects there: one 0.46 m out and 0.22 m aside, whose leaned
    # pick swung the grasp frame 1 mm past a 0.5 m workspace on its way to the place.
    kin = ArmKinematics(load_arm_config(ARMS / "widowx.yaml"))
    place = next(iter(kin.config.places.values()))
    for xy in ([0.46, -0.22], [0.52, 0.0], [0.5, 0.2]):
        for yaw in np.linspace(0.0, np.pi, 4, endpoint=False):
            down = Rotation.from_euler("xz", [np.pi, yaw]).as_matrix()
            plan = plan_pick(kin, kin.config.home, _pose([*xy, 0.02], down), 0.04, place)
            assert np.arccos(-plan.grasp[2, 2]) > 0.2  # leaned


def test_an_unplannable_grasp_names_the_reason_as_given_and_leaned() -> None:
    # Without leaning, only the grasp as given's reason (its half turn's adds nothing).
    assert str(unplannable([(0.0, "no IK"), (0.0, "no IK either")])) == "no IK"
    leaned = unplannable([(0.0, "no IK"), (0.0, "x"), (0.26, "y"), (0.52, "outside")])
    assert str(leaned) == "no IK; leaned 30 degrees toward the base: outside"
    # On an arm: 0.79 m out and 0.45 m aside the Kinova reaches neither way.
    kin = ArmKinematics(load_arm_config(ARMS / "kinova.yaml"))
    grasp = _pose([0.79, 0.45, 0.02], Rotation.from_euler("xz", [np.pi, 0.3]).as_matrix())
    place = next(iter(kin.config.places.values()))
    with pytest.raises(PlanningError, match=r"^the pre-grasp .*; leaned 30 degrees toward"):
        plan_pick(kin, kin.config.home, grasp, 0.04, place)


def test_a_grasp_out_of_reach_straight_down_is_planned_leaning() -> None:
    # 0.47 m out the WidowX cannot point straight down (a 5-DoF arm: the lean must stay in
    # the vertical plane through its base axis); three of ten simulated tables had an
    # object there. The Kinova likewise at 0.78 m.
    for name, x in (("widowx", 0.47), ("kinova", 0.78)):
        kin = ArmKinematics(load_arm_config(ARMS / f"{name}.yaml"))
        place = next(iter(kin.config.places.values()))
        for yaw in np.linspace(0.0, np.pi, 4, endpoint=False):
            # Exactly down, as the transform's table-normal approach gives it.
            down = Rotation.from_euler("xz", [np.pi, yaw]).as_matrix()
            grasp = _pose([x, 0.05, 0.02], down)
            with pytest.raises(PlanningError, match="pre-grasp"):
                plan_pick(kin, kin.config.home, grasp, 0.04, place, PickParams(max_lean_rad=0))
            plan = plan_pick(kin, kin.config.home, grasp, 0.04, place)
            lean = np.arccos(-plan.grasp[2, 2])
            assert 0.2 < lean <= PickParams().max_lean_rad + 1e-6
            np.testing.assert_allclose(kin.forward(plan.approach[-1]), plan.grasp, atol=1e-3)
            np.testing.assert_allclose(plan.grasp[:2, 3], grasp[:2, 3], atol=1e-9)
