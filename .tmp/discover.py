import re, sys, pytest
from tests.world import World, world_fixture, BACKENDS, PEOPLE
from tests.conftest import csrf_token

@pytest.fixture(scope="module", params=["sqlite"])
def world(request):
    yield from world_fixture(request)

def test_discover(world):
    from tests.test_routes import instances, ROLE_NAMES
    app = world.app
    rows = {}
    for who in ROLE_NAMES:
        client = world.client(None if who == "anonymous" else who)
        token = csrf_token(client, "/auth/sign-in" if who=="anonymous" else "/")
        for rule in app.url_map.iter_rules():
            if rule.endpoint in ("auth.sign_out",): continue
            for method in sorted(rule.methods - {"HEAD","OPTIONS"}):
                got = set()
                for url in instances(world, rule):
                    r = client.open(url, method=method, data={"csrf_token": token} if method=="POST" else None)
                    s = r.status_code
                    if s == 302 and "/auth/sign-in" in r.headers["Location"] and rule.endpoint!="auth.sign_in": s="signin"
                    got.add(str(s))
                rows.setdefault((rule.endpoint, method), {})[who] = "/".join(sorted(got))
    for (e, m), d in sorted(rows.items()):
        print(f"{e:32} {m:5}", " ".join(f"{d.get(w,''):12}" for w in ROLE_NAMES))
