#!/usr/bin/env python3
"""An Open311 GeoReport v2 client written from the specification
(http://wiki.open311.org/GeoReport_v2), with nothing but the Python standard library: it
knows cuntu only as an endpoint. It lists the services (XML), reads one service definition
(JSON), posts a request (form-encoded, with an api_key), reads it back by id in JSON and in
XML, finds it in the request list, and resolves its token. Prints a JSON summary; exits
non-zero on any departure from the specification it checks.

    scripts/open311_client.py http://127.0.0.1:8080/open311/v2 API_KEY SERVICE_CODE LAT LONG

(PyPI's `open311` 1.1 would be the obvious client, but it is Python 2 code and does not
import on Python 3.)
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def main():
    base, api_key, service, lat, lon = sys.argv[1:6]
    summary = {}

    status, ctype, body = get(f"{base}/services.xml")
    assert status == 200 and "xml" in ctype, (status, ctype)
    root = ET.fromstring(body)
    assert root.tag == "services", root.tag
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert service in codes, codes
    for s in root.findall("service"):
        for field in ("service_code", "service_name", "metadata", "type"):
            assert s.find(field) is not None, field
    summary["services"] = len(codes)

    status, _, body = get(f"{base}/services/{service}.json")
    definition = json.loads(body)
    assert definition["service_code"] == service
    summary["attributes"] = [a["code"] for a in definition["attributes"]]

    form = urllib.parse.urlencode({
        "api_key": api_key, "service_code": service, "lat": lat, "long": lon,
        "description": "路边垃圾堆放三天无人清理 rubbish left by the road for three days",
        "first_name": "Wei", "last_name": "Zhang", "email": "zhang.wei@example.org",
        "attribute[grade]": "major",
    }).encode()
    req = urllib.request.Request(f"{base}/requests.json", data=form, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=30) as r:
        posted = json.loads(r.read())
    request_id = posted[0]["service_request_id"]
    token = posted[0].get("token")
    summary["posted"] = request_id

    status, _, body = get(f"{base}/requests/{request_id}.json")
    read = json.loads(body)[0]
    assert read["service_request_id"] == request_id and read["status"] == "open", read
    assert read["service_code"] == service
    assert abs(float(read["lat"]) - float(lat)) < 1e-6 and abs(float(read["long"]) - float(lon)) < 1e-6
    summary["status"] = read["status"]
    summary["extended_attributes"] = read.get("extended_attributes")

    status, ctype, body = get(f"{base}/requests/{request_id}.xml")
    xml_request = ET.fromstring(body).find("request")
    assert xml_request.findtext("service_request_id") == request_id
    assert xml_request.findtext("status") == "open"

    status, _, body = get(f"{base}/requests.json?" + urllib.parse.urlencode({"service_code": service, "status": "open"}))
    listed = [r["service_request_id"] for r in json.loads(body)]
    assert request_id in listed, listed
    summary["listed"] = len(listed)

    if token:
        status, _, body = get(f"{base}/tokens/{token}.json")
        assert json.loads(body)[0]["service_request_id"] == request_id
        summary["token"] = token

    try:
        get(f"{base}/requests/999999999.xml")
        raise AssertionError("an unknown request must be an error")
    except urllib.error.HTTPError as e:
        errors = ET.fromstring(e.read())
        assert errors.tag == "errors" and errors.find("error/code").text == "404"
        summary["unknown"] = e.code

    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
