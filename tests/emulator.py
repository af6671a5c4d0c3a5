"""A pytest plugin (loaded with `-p tests.emulator`): one moto server on a free loopback port
for the whole test session.

Everything talks to it over HTTP through boto3, exactly as `make run` and AWS do; the endpoint
reaches the code through AWS_ENDPOINT_URL. It is set when pytest loads this plugin, before
pytest-django imports the portal's settings and before any module creates a client, so both
read their configuration from the environment the same way they do outside tests.
"""

from __future__ import annotations

import atexit
import logging
import os

from moto.server import ThreadedMotoServer

from deploy.local.dynamodb_fidelity import make_dynamodb_faithful
from deploy.local.environment import use_emulator
from deploy.local.resources import resource_environment
from lambdas.shared.resource_names import TALLY_FAILURE_QUEUE

REGION = "us-east-1"

logging.getLogger("werkzeug").setLevel(logging.ERROR)
make_dynamodb_faithful()
_moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
_moto.start()
atexit.register(_moto.stop)
_host, _port = _moto.get_host_and_port()
MOTO_ENDPOINT = f"http://{_host}:{_port}"

use_emulator(MOTO_ENDPOINT, REGION)
# The portal's settings default to production's (DEBUG off, HTTPS only); the tests' portal is
# the development one of `make run` (pytest-django still runs each test with DEBUG off).
os.environ.setdefault("DEBUG", "true")
os.environ.update(resource_environment())
# The queue URL moto will give the template's failure queue; `aws` checks it did.
os.environ[TALLY_FAILURE_QUEUE.variable] = (
    f"{MOTO_ENDPOINT}/123456789012/{os.environ[TALLY_FAILURE_QUEUE.name_variable]}"
)
