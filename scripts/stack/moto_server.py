"""moto server with one addition: targets can be made unhealthy.

moto never reports `unhealthy` by itself (FakeTargetGroup.health_for only knows registration
and instance state). This launcher wraps health_for to honour target-group tags:

    moto:health:<targetId> = "unhealthy|Target.Timeout|Request timed out"
    moto:health:*          = the same, for every target without its own tag

An override applies only to targets moto itself considers healthy, so moto's own answers
(stopped instance → Target.InvalidState, deregistered → Target.NotRegistered) stay real.
It also lifts moto's 10-tags-per-resource limit, which the overrides would hit, and fills two
IPv6 gaps of moto's ENIs that an EKS IPv6 cluster needs (moto 5.2):
- the DescribeNetworkInterfaces filter `ipv6-addresses.ipv6-address` (moto raises
  FilterNotImplementedError, a 500);
- a subnet's IPv6 block state, which moto returns as the string "{'State': 'associated'}";
- delegated IPv6 prefixes (`AssignIpv6Addresses --ipv6-prefixes`, returned as `Ipv6Prefixes` by
  DescribeNetworkInterfaces and DescribeInstances): moto ignores the parameter.

    python3 moto_server.py HOST PORT
"""
import sys

from moto.elbv2 import models

_health_for = models.FakeTargetGroup.health_for


def _override(tg, target_id):
    _, _, _, region, account, _ = tg.arn.split(":", 5)
    tags = models.elbv2_backends[account][region].tagging_service.get_tag_dict_for_resource(tg.arn)
    return tags.get(f"moto:health:{target_id}") or tags.get("moto:health:*")


def health_for(self, target, ec2_backend):
    status = _health_for(self, target, ec2_backend)
    value = _override(self, target["Id"]) if status.status == "healthy" else None
    if value:
        state, reason, description = (value.split("|") + ["", ""])[:3]
        status.status = state
        status.reason = reason or None
        status.description = description or None
    return status


def add_tags(self, resource_arns, tags):
    for arn in resource_arns:
        self._get_resource_by_arn(arn)
        self.tagging_service.tag_resource(arn, tags)


models.FakeTargetGroup.health_for = health_for
models.ELBv2Backend.add_tags = add_tags

from moto.ec2.models import elastic_network_interfaces as enis  # noqa: E402
from moto.ec2.responses import elastic_network_interfaces as eni_responses  # noqa: E402

_eni_filter = enis.NetworkInterface.get_filter_value
_assign_ipv6 = eni_responses.ElasticNetworkInterfaces.assign_ipv6_addresses


def eni_filter(self, filter_name, method_name=None):
    if filter_name == "ipv6-addresses.ipv6-address":
        return list(self.ipv6_addresses)
    # AWS matches every private IPv4 address of the ENI (the VPC CNI's pod addresses are
    # secondary ones); moto 5.2 matches the primary only, which `private-ip-address` means.
    if filter_name == "addresses.private-ip-address":
        return [a["PrivateIpAddress"] for a in self.private_ip_addresses] or [self.private_ip_address]
    return _eni_filter(self, filter_name, method_name)


# An ENI matches an address filter when any of its addresses is any of the values (AWS ORs a
# filter's values); moto 5.2 wants the ENI's addresses to be a subset or superset of them, so an
# ENI with a primary address and pod addresses matched nothing once other values were asked.
from moto.ec2 import utils as ec2_utils  # noqa: E402

_is_filter_matching = ec2_utils.is_filter_matching
_ADDRESS_FILTERS = ("addresses.private-ip-address", "ipv6-addresses.ipv6-address")


def is_filter_matching(obj, _filter, filter_value):
    if _filter in _ADDRESS_FILTERS and isinstance(obj, enis.NetworkInterface):
        values = filter_value if isinstance(filter_value, list) else [filter_value]
        return bool(set(obj.get_filter_value(_filter)) & set(values))
    return _is_filter_matching(obj, _filter, filter_value)


ec2_utils.is_filter_matching = is_filter_matching


def assign_ipv6_addresses(self):
    prefixes = self._get_param("Ipv6Prefixes", [])
    result = _assign_ipv6(self)
    if prefixes:
        eni = self.ec2_backend.get_network_interface(self._get_param("NetworkInterfaceId"))
        # The serializer reads `Ipv6Prefixes` from the attribute `ipv6_prefixes`.
        eni.ipv6_prefixes = getattr(eni, "ipv6_prefixes", []) + [{"Ipv6Prefix": p} for p in prefixes]
    return result


enis.NetworkInterface.get_filter_value = eni_filter

from moto.ec2.models import subnets  # noqa: E402


def subnet_ipv6_blocks(self):
    return [{"ipv6CidrBlock": a["ipv6CidrBlock"], "associationId": a["associationId"], "ipv6CidrBlockState": {"state": a["ipv6CidrBlockState"]["State"]}}
            for a in self.ipv6_cidr_block_associations.values() if a["ipv6CidrBlockState"]["State"] == "associated"]


subnets.Subnet.ipv6_cidr_block_association_set = property(subnet_ipv6_blocks)
eni_responses.ElasticNetworkInterfaces.assign_ipv6_addresses = assign_ipv6_addresses

# Calls counted per SDK app id (`AWS_SDK_UA_APP_ID`, sent as `app/<id>` in the user agent) and
# service (the credential scope of the signature), read back at GET /_stack/calls?app=<id>: the
# storm test counts its own invocations' calls while other tests share the server. "<service>"
# counts the requests that arrived, "<service>+operations" the operations they were attempts of:
# the SDK sends one `amz-sdk-invocation-id` with every attempt of an operation, and an attempt
# may never arrive (a pooled connection the server had closed) while its retry does, so counting
# attempts by their number (`amz-sdk-request: attempt=2`) misses operations. A request without
# an invocation id (our own JSON client, which does not retry) is an operation of its own.
import json as _json  # noqa: E402
import re as _re  # noqa: E402
import threading as _threading  # noqa: E402
from urllib.parse import parse_qs as _parse_qs  # noqa: E402

from moto.moto_server import werkzeug_app  # noqa: E402

_calls = {}
_operations = {}
_calls_lock = _threading.Lock()
_dispatch = werkzeug_app.DomainDispatcherApplication.__call__


# CloudTrail's LookupEvents, which moto 5.2 lacks: events are seeded by the scenarios at
# POST /_stack/cloudtrail (a JSON list in LookupEvents' own event format, each with the
# `Resources` it names), and answered as CloudTrail does: one ResourceName lookup attribute,
# StartTime/EndTime in epoch seconds, newest first. An entry {"DenyResource": NAME} makes the
# lookup of NAME answer AccessDeniedException, as for a role without cloudtrail:LookupEvents.
from moto.cloudtrail import responses as trail_responses  # noqa: E402
from moto.core.exceptions import JsonRESTError  # noqa: E402

_trail = []
_trail_lock = _threading.Lock()


def lookup_events(self):
    body = _json.loads(self.body or "{}")
    attrs = body.get("LookupAttributes") or [{}]
    name = attrs[0].get("AttributeValue")
    start, end = body.get("StartTime", 0), body.get("EndTime", 1e12)
    with _trail_lock:
        if any(e.get("DenyResource") == name for e in _trail):
            raise JsonRESTError("AccessDeniedException", "User is not authorized to perform: cloudtrail:LookupEvents")
        events = [e for e in _trail if "EventName" in e and start <= e["EventTime"] <= end
                  and any(r.get("ResourceName") == name for r in e.get("Resources", []))]
    events.sort(key=lambda e: -e["EventTime"])
    return _json.dumps({"Events": events[: int(body.get("MaxResults", 50))]})


trail_responses.CloudTrailResponse.lookup_events = lookup_events


def counting_dispatch(self, environ, start_response):
    if environ.get("PATH_INFO") == "/_stack/cloudtrail" and environ.get("REQUEST_METHOD") == "POST":
        seeded = _json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"[]")
        with _trail_lock:
            _trail.extend(seeded)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]
    if environ.get("PATH_INFO") == "/_stack/calls":
        app = _parse_qs(environ.get("QUERY_STRING", "")).get("app", [""])[0]
        with _calls_lock:
            body = _json.dumps(_calls.get(app, {})).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    agent = environ.get("HTTP_X_AMZ_USER_AGENT", "") + " " + environ.get("HTTP_USER_AGENT", "")
    app = _re.search(r"app/([A-Za-z0-9._-]+)", agent)
    service = _re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    if app:
        with _calls_lock:
            per = _calls.setdefault(app.group(1), {})
            key = service.group(1) if service else "unsigned"
            per[key] = per.get(key, 0) + 1
            seen = _operations.setdefault((app.group(1), key), set())
            seen.add(environ.get("HTTP_AMZ_SDK_INVOCATION_ID") or object())
            per[key + "+operations"] = len(seen)
    return _dispatch(self, environ, start_response)


werkzeug_app.DomainDispatcherApplication.__call__ = counting_dispatch

if __name__ == "__main__":
    from moto.server import main

    main(["-H", sys.argv[1], "-p", sys.argv[2]])
