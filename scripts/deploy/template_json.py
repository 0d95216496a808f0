#!/usr/bin/env python3
"""Prints a CloudFormation/SAM template as JSON, intrinsic functions ({"Fn::If": …}) kept, using
cfn-lint's own YAML loader (PyYAML rejects the short-form tags).   template_json.py FILE"""
import json
import sys

from cfnlint.decode import decode

template, errors = decode(sys.argv[1])
if errors:
    raise SystemExit("\n".join(str(e) for e in errors))
print(json.dumps(template, default=str))
