"""A session's Spark UI through the proxy at ``/sessions/<id>/spark/``: a clear page before
Spark starts, Spark's Jobs page (its links and redirects kept under the prefix) once a
SparkSession runs in the session, for the session's owner only (as its Jupyter server).

A real workbench session with the Spark add-on starts a real SparkSession in its console
kernel (tens of seconds on a busy machine).
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from tests.conftest import login
from tests.services.test_sessions import (  # noqa: F401 (fixtures)
    collect,
    idle_after,
    lw,
    people,
    project,
    session_app,
    start,
    web,
)

from lakeworks.data.spark import java_home
from lakeworks.entities.projects import Project
from lakeworks.entities.sessions import Editor
from lakeworks.proxy.forward import _under
from lakeworks.services.platform import Platform, Principal

HTML = {"accept": "text/html"}
START_SPARK = (
    "from pyspark.sql import SparkSession\n"
    "spark = SparkSession.builder.appName('ui-probe').getOrCreate()\n"
    "print('rows', spark.range(7).count())\n"
    # A Hive table, as the labs write them (Hadoop looks up the user's groups for its folder).
    "spark.range(3).write.mode('overwrite').saveAsTable('probe')\n"
    "print('tables', len(spark.catalog.listTables()))\n"
)


def test_redirects_stay_under_the_prefix_on_this_host() -> None:
    prefix = "/sessions/s1/spark"
    assert _under(b"http://main.example:8790/jobs/", prefix) == b"/sessions/s1/spark/jobs/"
    assert _under(b"/stages/?id=1#x", prefix) == b"/sessions/s1/spark/stages/?id=1#x"
    assert _under(b"/sessions/s1/spark/jobs/", prefix) == b"/sessions/s1/spark/jobs/"
    # Another site's address becomes a path of this one: no open redirect.
    assert _under(b"https://evil.example/x", prefix) == b"/sessions/s1/spark/x"
    assert _under(b"//evil.example/x", prefix) == b"/sessions/s1/spark/x"
    assert _under(b"jobs/", prefix) == b"jobs/"


@pytest.mark.timeout(600)
def test_the_spark_ui_of_a_session_for_its_owner_only(
    lw: Platform,  # noqa: F811 (fixtures imported above)
    web: TestClient,  # noqa: F811
    people: dict[str, Principal],  # noqa: F811
    project: Project,  # noqa: F811
) -> None:
    if not java_home():
        pytest.skip("no Java 17/11 here: Spark cannot start")
    session = start(
        lw, people["alice"], project, name="spark", editor=Editor.WORKBENCH.value, spark=True
    )
    base = f"/sessions/{session.id}/spark"
    login(web, "alice")
    # The session page offers it.
    page = web.get(f"/projects/{project.id}/sessions/{session.id}")
    assert f'href="{base}/"' in page.text and "Spark UI" in page.text

    console = f"/projects/{project.id}/sessions/{session.id}/console"
    with web.websocket_connect(console) as ws:
        collect(ws, lambda m: m["type"] == "ready")
        # Before any SparkSession: a page that says so, with the way back.
        before = web.get(f"{base}/", headers=HTML)
        assert before.status_code == 502
        assert "Spark has not been started in this session" in before.text
        assert f"/projects/{project.id}/sessions/{session.id}" in before.text

        ws.send_text(json.dumps({"op": "execute", "code": START_SPARK}))
        out = collect(ws, idle_after(ws.receive_json()["msg_id"]), limit=2000)
        printed = "".join(m["content"].get("text", "") for m in out if m["type"] == "stream")
        assert "rows 7" in printed, out[-5:]
        # Hadoop looks up no groups of a user the sandbox does not know: no stack trace.
        assert "no such user" not in printed and "GroupsMapping" not in printed, printed[-2000:]
        # Nor the Hive start-up warnings nobody can act on (they filled the first cell).
        assert "HiveConf of name" not in printed and "ObjectStore" not in printed, printed

        # ``/spark`` → ``/spark/`` → Spark's own redirect to its Jobs page, all on this host.
        root = web.get(base, headers=HTML, follow_redirects=False)
        assert root.status_code == 307 and root.headers["location"] == f"{base}/"
        hop = web.get(f"{base}/", headers=HTML, follow_redirects=False)
        assert hop.status_code in (301, 302, 303, 307)
        assert hop.headers["location"] == f"{base}/jobs/"
        jobs = web.get(f"{base}/", headers=HTML)
        assert jobs.status_code == 200
        assert "Spark Jobs" in jobs.text and "ui-probe" in jobs.text
        # Its links and assets point under the prefix, and load.
        assert f'href="{base}/stages/"' in jobs.text
        assert f"{base}/static/webui.css" in jobs.text
        assert web.get(f"{base}/static/webui.css").status_code == 200
        assert web.get(f"{base}/stages/", headers=HTML).status_code == 200

        # Nobody else: a contributor who is not the owner, a viewer, a non-member.
        for other in ("bob", "carol", "dave"):
            web.cookies.clear()
            login(web, other)
            refused = web.get(f"{base}/jobs/", headers=HTML)
            assert refused.status_code == 404, other
            assert "Spark Jobs" not in refused.text
        web.cookies.clear()
        assert web.get(f"{base}/jobs/", follow_redirects=False).status_code == 401
        login(web, "alice")
        ws.send_text(json.dumps({"op": "execute", "code": "spark.stop()"}))
        collect(ws, idle_after(ws.receive_json()["msg_id"]), limit=2000)
