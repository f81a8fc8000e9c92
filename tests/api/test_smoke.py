def test_push_then_status(workspace):
    api = workspace.api
    lb = api.create_push_leaderboard()
    token = api.dataset_token(lb)
    r = api.as_token(token).push(lb, {"input": "What did the user ask?", "output": "The answer"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    s = api.get(f"/v1/leaderboard/{lb}/dataset/status")
    assert s.status_code == 200, s.text
    assert s.json()["counts"]["pending"] == 1
    c = api.post(f"/v1/leaderboard/{lb}/dataset/consolidate")
    assert c.status_code == 200, c.text
    assert c.json()["version"]["rows"] == 1
