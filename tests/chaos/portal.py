"""``python -m tests.chaos.portal --port P``: the Bitrix24 simulator as a bigger portal.

``bus simulate bitrix24`` drains its leaky bucket at 2 requests/s, as a standard cloud portal does.
The chaos drill sends some 400 orders to the CRM within a minute and a half; at 2 requests/s that
alone would take minutes longer than the drill may. This runs the same simulator with a bucket
that drains faster (as a self-hosted portal's limits may be set); everything else, the faults and
the control API included, is the simulator's own.
"""

from __future__ import annotations

import argparse

from aiohttp import web

from simulators.bitrix24 import create_app


def main() -> None:
    """Serve the Bitrix24 simulator on ``--port`` with the given leaky bucket."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--drain", type=float, default=40.0, help="requests per second")
    options = parser.parse_args()
    app = create_app(capacity=options.capacity, drain_per_second=options.drain)
    web.run_app(app, host=options.host, port=options.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
