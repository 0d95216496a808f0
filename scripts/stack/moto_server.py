"""moto server with one addition: targets can be made unhealthy.

moto never reports `unhealthy` by itself (FakeTargetGroup.health_for only knows registration
and instance state). This launcher wraps health_for to honour target-group tags:

    moto:health:<targetId> = "unhealthy|Target.Timeout|Request timed out"
    moto:health:*          = the same, for every target without its own tag

An override applies only to targets moto itself considers healthy, so moto's own answers
(stopped instance → Target.InvalidState, deregistered → Target.NotRegistered) stay real.
It also lifts moto's 10-tags-per-resource limit, which the overrides would hit.

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

if __name__ == "__main__":
    from moto.server import main

    main(["-H", sys.argv[1], "-p", sys.argv[2]])
