"""Every page carries the Content-Security-Policy: scripts from this site's files only, no framing."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse


@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/accounts/signup/", "/admin/login/"])
def test_pages_carry_the_content_security_policy(client, clearpay, url):
    response = client.get(url)
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


def test_the_workspace_has_no_inline_script_to_run(client, learner, clearpay):
    client.force_login(learner)
    html = client.get(reverse("workspace", args=["clearpay"])).content.decode()
    assert "Content-Security-Policy" not in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts
    for attributes, body in scripts:
        # Data blocks (json_script) are not run; every script that runs comes from a file.
        assert 'type="application/json"' in attributes or ("src=" in attributes and not body.strip())
    assert not re.search(r"\son[a-z]+=", html), "no inline event handler"
