def test_home_page_lists_every_enabled_plugin(client):
    resp = client.get("/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    for label in ("政务服务", "便民服务", "居民自治", "平安社区"):
        assert label in html


def test_admin_plugins_page_requires_permission(client_as, client):
    assert client.get("/admin/plugins").status_code == 302
    assert client_as("resident").get("/admin/plugins").status_code == 403
    page = client_as("admin").get("/admin/plugins")
    assert page.status_code == 200
    assert "gov_services" in page.get_data(as_text=True)


def test_bearer_token_authenticates_api(client, token_for):
    token = token_for("admin")
    resp = client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
