"""Plans: what a workspace may do (the free plan caps leaderboards and locks deletion)."""

from shared.domain.plans import Plan, plan_for


def test_the_free_plan_caps_leaderboards_and_cannot_delete():
    assert plan_for("free", free_max_leaderboards=3) == Plan(
        "free", max_leaderboards=3, can_delete_leaderboards=False
    )
    assert plan_for("free", free_max_leaderboards=7).max_leaderboards == 7


def test_paid_plans_are_unlimited_and_can_delete():
    for name in ("pro", "team", "Free", "FREE"):  # plan names are exact: "Free" is not "free"
        assert plan_for(name, free_max_leaderboards=3) == Plan(
            name, max_leaderboards=None, can_delete_leaderboards=True
        )
