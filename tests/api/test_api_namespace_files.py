"""Namespace files: upload, list, read, stats, search, move and delete, on both backends."""

from __future__ import annotations

import io
import uuid
import zipfile

import aiohttp

from kestra_stream.storage import FOLDER_MARKER, child_uri, namespace_files_uri
from tests.api.conftest import ApiHarness


def _namespace() -> str:
    return f"api.files.t{uuid.uuid4().hex[:8]}"


def _form(content: bytes, filename: str = "file.txt") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("fileContent", content, filename=filename, content_type="application/octet-stream")
    return form


async def _upload(api: ApiHarness, namespace: str, path: str, content: bytes, filename: str = "file.txt") -> None:
    answer = await api.client.post(f"/api/v1/namespaces/{namespace}/files", params={"path": path},
                                   data=_form(content, filename))
    assert answer.status == 200, await answer.text()


async def test_an_uploaded_file_is_read_back_and_lands_in_the_namespace_files_folder(api: ApiHarness) -> None:
    namespace = _namespace()
    await _upload(api, namespace, "/scripts/main.py", b"print('hi')\n")
    answer = await api.client.get(f"/api/v1/main/namespaces/{namespace}/files", params={"path": "scripts/main.py"})
    assert answer.status == 200 and answer.content_type == "application/octet-stream"
    assert await answer.read() == b"print('hi')\n"
    stored = await api.storage.get(child_uri(namespace_files_uri(namespace), "scripts", "main.py"))
    assert stored == b"print('hi')\n"


async def test_directory_listings_show_files_and_folders_one_level_deep(api: ApiHarness) -> None:
    namespace = _namespace()
    await _upload(api, namespace, "/a.txt", b"12345")
    await _upload(api, namespace, "/dir/b.txt", b"1")
    await _upload(api, namespace, "/dir/sub/c.txt", b"12")
    root = await (await api.client.get(f"/api/v1/namespaces/{namespace}/files/directory")).json()
    assert root == [{"fileName": "a.txt", "type": "File", "size": 5},
                    {"fileName": "dir", "type": "Directory", "size": 0}]
    below = await api.client.get(f"/api/v1/namespaces/{namespace}/files/directory", params={"path": "/dir"})
    assert await below.json() == [{"fileName": "b.txt", "type": "File", "size": 1},
                                  {"fileName": "sub", "type": "Directory", "size": 0}]
    stats = await api.client.get(f"/api/v1/namespaces/{namespace}/files/stats", params={"path": "/dir/sub/c.txt"})
    assert await stats.json() == {"fileName": "c.txt", "type": "File", "size": 2}
    found = await api.client.get(f"/api/v1/namespaces/{namespace}/files/search", params={"q": "sub"})
    assert await found.json() == ["/dir/sub/c.txt"]


async def test_an_empty_namespace_has_an_empty_root_and_missing_paths_are_404(api: ApiHarness) -> None:
    namespace = _namespace()
    root = await api.client.get(f"/api/v1/namespaces/{namespace}/files/directory")
    assert root.status == 200 and await root.json() == []
    for path in ("/files", "/files/directory", "/files/stats"):
        missing = await api.client.get(f"/api/v1/namespaces/{namespace}{path}", params={"path": "/nope.txt"})
        assert missing.status == 404, path
        assert "/nope.txt" in (await missing.json())["message"]


async def test_deleting_a_folder_removes_everything_below_it(api: ApiHarness) -> None:
    namespace = _namespace()
    await _upload(api, namespace, "/keep.txt", b"k")
    await _upload(api, namespace, "/dir/one.txt", b"1")
    await _upload(api, namespace, "/dir/sub/two.txt", b"2")
    assert (await api.client.delete(f"/api/v1/namespaces/{namespace}/files", params={"path": "dir"})).status == 200
    root = await (await api.client.get(f"/api/v1/namespaces/{namespace}/files/directory")).json()
    assert [e["fileName"] for e in root] == ["keep.txt"]
    assert (await api.client.delete(f"/api/v1/namespaces/{namespace}/files",
                                    params={"path": "/keep.txt"})).status == 200
    again = await api.client.delete(f"/api/v1/namespaces/{namespace}/files", params={"path": "/keep.txt"})
    assert again.status == 404


async def test_a_zip_upload_is_unpacked_below_the_root(api: ApiHarness) -> None:
    namespace = _namespace()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scripts/", b"")
        archive.writestr("scripts/etl.sql", b"select 1")
        archive.writestr("readme.md", b"# hi")
    await _upload(api, namespace, "/ignored", buffer.getvalue(), filename="bundle.zip")
    found = await (await api.client.get(f"/api/v1/namespaces/{namespace}/files/search", params={"q": "/"})).json()
    assert found == ["/readme.md", "/scripts/etl.sql"]


async def test_moving_a_folder_moves_every_file_below_it(api: ApiHarness) -> None:
    namespace = _namespace()
    await _upload(api, namespace, "/old/x.txt", b"x")
    await _upload(api, namespace, "/old/deep/y.txt", b"y")
    moved = await api.client.put(f"/api/v1/namespaces/{namespace}/files", params={"from": "/old", "to": "/new"})
    assert moved.status == 200, await moved.text()
    found = await (await api.client.get(f"/api/v1/namespaces/{namespace}/files/search", params={"q": "/"})).json()
    assert found == ["/new/deep/y.txt", "/new/x.txt"]


async def test_a_file_cannot_become_a_folder_nor_a_folder_a_file(api: ApiHarness) -> None:
    namespace = _namespace()
    await _upload(api, namespace, "/thing", b"a file")
    under_file = await api.client.post(f"/api/v1/namespaces/{namespace}/files", params={"path": "/thing/inner"},
                                       data=_form(b"x"))
    assert under_file.status == 409 and "is a file" in (await under_file.json())["message"]
    await _upload(api, namespace, "/folder/inner", b"x")
    over_folder = await api.client.post(f"/api/v1/namespaces/{namespace}/files", params={"path": "/folder"},
                                        data=_form(b"x"))
    assert over_folder.status == 409 and "is a folder" in (await over_folder.json())["message"]


async def test_bad_paths_and_bodies_are_refused_with_the_fix(api: ApiHarness) -> None:
    namespace = _namespace()
    base = f"/api/v1/namespaces/{namespace}/files"
    escaping = await api.client.get(base, params={"path": "/a/../../etc/passwd"})
    assert escaping.status == 400 and "'..'" in (await escaping.json())["message"]
    flows = await api.client.post(base, params={"path": "/_flows/f.yml"}, data=_form(b"id: f"))
    assert flows.status == 422 and "flows API" in (await flows.json())["message"]
    not_multipart = await api.client.post(base, params={"path": "/a.txt"}, data=b"raw",
                                          headers={"Content-Type": "text/plain"})
    assert not_multipart.status == 400 and "multipart/form-data" in (await not_multipart.json())["message"]
    form = aiohttp.FormData()
    form.add_field("other", b"x", filename="x.txt")
    wrong_field = await api.client.post(base, params={"path": "/a.txt"}, data=form)
    assert wrong_field.status == 400 and "fileContent" in (await wrong_field.json())["message"]
    broken_zip = await api.client.post(base, params={"path": "/"}, data=_form(b"not a zip", "x.zip"))
    assert broken_zip.status == 400 and ".zip" in (await broken_zip.json())["message"]
    bad_namespace = await api.client.get("/api/v1/namespaces/UPPER/files/directory")
    assert bad_namespace.status == 400


async def test_an_empty_folder_is_created_listed_filled_moved_and_deleted(api: ApiHarness) -> None:
    namespace = _namespace()
    for _ in range(2):  # creating it again changes nothing
        made = await api.client.post(f"/api/v1/main/namespaces/{namespace}/files/directory",
                                     params={"path": "/empty/inner"})
        assert made.status == 200, await made.text()
    directory = f"/api/v1/namespaces/{namespace}/files/directory"
    assert await (await api.client.get(directory, params={"path": "/empty"})).json() == [
        {"fileName": "inner", "type": "Directory", "size": 0}]
    assert await (await api.client.get(directory, params={"path": "/empty/inner"})).json() == []
    stats = await api.client.get(f"/api/v1/namespaces/{namespace}/files/stats", params={"path": "/empty/inner"})
    assert await stats.json() == {"fileName": "inner", "type": "Directory", "size": 0}
    await _upload(api, namespace, "/empty/inner/a.txt", b"a")
    assert await (await api.client.get(directory, params={"path": "/empty/inner"})).json() == [
        {"fileName": "a.txt", "type": "File", "size": 1}]
    assert await (await api.client.get(f"/api/v1/namespaces/{namespace}/files/search",
                                       params={"q": "inner"})).json() == ["/empty/inner/a.txt"]

    moved = await api.client.put(f"/api/v1/namespaces/{namespace}/files", params={"from": "/empty", "to": "/full"})
    assert moved.status == 200, await moved.text()
    assert await (await api.client.get(directory)).json() == [{"fileName": "full", "type": "Directory", "size": 0}]
    deleted = await api.client.delete(f"/api/v1/namespaces/{namespace}/files", params={"path": "/full"})
    assert deleted.status == 200
    assert await (await api.client.get(directory)).json() == []
    assert await api.storage.list(namespace_files_uri(namespace)) == []


async def test_a_folder_is_refused_where_a_file_is_and_its_marker_cannot_be_named(api: ApiHarness) -> None:
    namespace = _namespace()
    await _upload(api, namespace, "/notes.txt", b"x")
    on_file = await api.client.post(f"/api/v1/namespaces/{namespace}/files/directory", params={"path": "/notes.txt"})
    assert on_file.status == 409 and "it is a file" in (await on_file.json())["message"]
    below_file = await api.client.post(f"/api/v1/namespaces/{namespace}/files/directory",
                                       params={"path": "/notes.txt/sub"})
    assert below_file.status == 409 and "is a file, not a folder" in (await below_file.json())["message"]
    root = await api.client.post(f"/api/v1/namespaces/{namespace}/files/directory", params={"path": "/"})
    assert root.status == 400 and "always exists" in (await root.json())["message"]
    marker = await api.client.get(f"/api/v1/namespaces/{namespace}/files",
                                  params={"path": f"/dir/{FOLDER_MARKER}"})
    assert marker.status == 400 and "marks an empty folder" in (await marker.json())["message"]
